import NIOCore

/// One MQTT connection's protocol state, on its channel's event loop: frames the broker's bytes
/// into packets, answers them, and writes publishes and (un)subscribes with packet identifiers
/// it hands out.
///
/// Publishes beyond the broker's Receive Maximum wait here, unsent, and go out as PUBACKs free
/// their slots; every operation has exactly one outcome (the broker's reason code, or the
/// failure that ended the connection). Reads are buffered, so many PUBACKs arriving together
/// are parsed from one socket read.
final class MQTTClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where an operation's outcome goes.
    enum Waiter {
        /// A publish of ``MQTTClientConnection/publish(topic:payload:qos:retain:properties:)``.
        case single(EventLoopPromise<MQTTPublishAck>)
        /// One message of a batch.
        case batch(MQTTBatchCollector, index: Int)
        /// An operation the owner tracks by its own number: the answer goes to the connection's
        /// answer sink (``MQTTClientConnection/Answers``) — the broker's reason code — and a
        /// connection that ends leaves it to the owner, who fails everything it tracks then.
        case ticket(Int32)
        /// A SUBSCRIBE or UNSUBSCRIBE: the reason codes.
        case subscription(EventLoopPromise<[UInt8]>)
        /// An operation whose outcome nobody wants (an UNSUBSCRIBE of a filter no longer used).
        case ignored
    }

    private struct Slot {
        var waiter: Waiter
        /// A QoS 1 publish: it holds one of the broker's Receive Maximum slots.
        var isPublish: Bool
    }

    /// A publish not yet written: the window is full.
    private struct Unsent {
        var header: MQTTPublishHeader
        var payload: ByteBuffer
        var waiter: Waiter?
    }

    private enum State {
        case connecting(EventLoopPromise<MQTTConnAck>)
        case connected
        case closed(MQTTBridgeError)
    }

    let version: MQTTBridgeConfiguration.ProtocolVersion
    /// The connection's event loop.
    let eventLoop: any EventLoop
    private let connect: MQTTConnectPacket
    private let keepAlive: TimeAmount?
    private let maximumPacketSize: Int
    private let onMessage: @Sendable (MQTTMessage) -> Void
    private let answers: MQTTClientConnection.Answers?
    private let ended: EventLoopPromise<MQTTConnectionEnd>
    private var state: State
    private var context: ChannelHandlerContext?
    private var inbound: ByteBuffer?
    /// The outcome of each operation the broker owes an answer, by packet identifier.
    private var waiting: [Slot?] = Array(repeating: nil, count: 65_536)
    private var nextPacketID: UInt16 = 1
    private var inFlight = 0
    private var window: Int
    private var unsent = CircularBuffer<Unsent>()
    private var brokerMaximumPacketSize = Int.max
    private var pingOutstanding = false
    private var keepAliveTask: RepeatedTask?
    /// The reason code of the broker's DISCONNECT, if it sent one.
    private var disconnectReasonCode: UInt8?

    init(
        connect: MQTTConnectPacket, maximumInFlight: Int, maximumPacketSize: Int,
        connAck: EventLoopPromise<MQTTConnAck>, ended: EventLoopPromise<MQTTConnectionEnd>,
        answers: MQTTClientConnection.Answers?, eventLoop: any EventLoop, onMessage: @escaping @Sendable (MQTTMessage) -> Void
    ) {
        self.version = connect.version
        self.eventLoop = eventLoop
        self.connect = connect
        self.keepAlive = connect.keepAliveSeconds > 0 ? .seconds(Int64(connect.keepAliveSeconds)) : nil
        self.window = max(1, maximumInFlight)
        self.maximumPacketSize = maximumPacketSize
        self.onMessage = onMessage
        self.answers = answers
        self.ended = ended
        self.state = .connecting(connAck)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendConnect(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(.connectionLost, context: context)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sendConnect(context: context)
        context.fireChannelActive()
    }

    private var connectSent = false

    private func sendConnect(context: ChannelHandlerContext) {
        guard !connectSent else { return }
        connectSent = true
        var buffer = context.channel.allocator.buffer(capacity: 64)
        do {
            try connect.write(into: &buffer)
        } catch {
            fail(.client(code: 0, message: "\(error)"), context: context)
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        do {
            while let packet = try MQTTInboundPacket.read(from: &inbound!, version: version, maximumPacketSize: maximumPacketSize) {
                handle(packet, context: context)
                if case .closed = state { return }
            }
        } catch {
            fail(.brokerUnavailable("malformed packet from the broker: \(error)"), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil } else { inbound?.discardReadBytes() }
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.brokerUnavailable("the broker closed the connection"), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.brokerUnavailable("\(error)"), context: context)
    }

    private func handle(_ packet: MQTTInboundPacket, context: ChannelHandlerContext) {
        pingOutstanding = false
        switch (state, packet) {
        case (.connecting(let promise), .connAck(let connAck)):
            guard connAck.accepted else {
                let reason = MQTTReasonCode.connAckText(connAck.reasonCode, version: version)
                let error = MQTTBridgeError.rejected(reasonCode: Int(connAck.reasonCode), reason: reason)
                state = .closed(error)
                promise.fail(error)
                finish(error, context: context)
                return
            }
            state = .connected
            if let receiveMaximum = connAck.properties.receiveMaximum { window = min(window, Int(receiveMaximum)) }
            if let maximum = connAck.properties.maximumPacketSize { brokerMaximumPacketSize = Int(maximum) }
            if let keepAlive {
                let interval = connAck.properties.serverKeepAlive.map { TimeAmount.seconds(Int64(max($0, 1))) } ?? keepAlive
                let this = NIOLoopBound(self, eventLoop: context.eventLoop)
                keepAliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    this.value.keepAliveTick()
                }
            }
            promise.succeed(connAck)
        case (.connected, .pubAck(let packetID, let reasonCode, let reasonString)):
            guard let slot = waiting[Int(packetID)], slot.isPublish else { return }  // not one of ours
            waiting[Int(packetID)] = nil
            inFlight -= 1
            if reasonCode >= 0x80 {
                let reason = reasonString ?? MQTTReasonCode.text(reasonCode)
                complete(slot.waiter, code: reasonCode, error: .rejected(reasonCode: Int(reasonCode), reason: reason))
            } else {
                complete(slot.waiter, code: reasonCode, error: nil)
            }
            sendUnsent(context: context)
        case (.connected, .subAck(let packetID, let codes, _)), (.connected, .unsubAck(let packetID, let codes)):
            guard let slot = waiting[Int(packetID)], !slot.isPublish else { return }
            waiting[Int(packetID)] = nil
            switch slot.waiter {
            case .subscription(let promise): promise.succeed(codes)
            case .ticket(let ticket): answers?.answer(ticket, .success(Int32(codes.first ?? 0)))
            case .single, .batch, .ignored: break
            }
        case (.connected, .publish(let publish)):
            if let packetID = publish.packetID {
                var buffer = context.channel.allocator.buffer(capacity: 4)
                MQTTControlPacket.pubAck(packetID: packetID, reasonCode: 0).write(into: &buffer, version: version)
                context.write(wrapOutboundOut(buffer), promise: nil)
            }
            onMessage(MQTTMessage(
                topic: publish.topic, payload: publish.payload, qos: publish.qos.rawValue, retain: publish.retain,
                properties: publish.properties.messageProperties))
        case (.connected, .pingResp):
            break
        case (_, .disconnect(let reasonCode, let reasonString, _)):
            disconnectReasonCode = reasonCode
            let reason = reasonString ?? MQTTReasonCode.text(reasonCode)
            fail(.brokerUnavailable("the broker disconnected: \(reason)"), context: context)
        default:
            fail(.brokerUnavailable("unexpected packet from the broker"), context: context)
        }
    }

    private func complete(_ waiter: Waiter, code: UInt8, error: MQTTBridgeError?) {
        switch waiter {
        case .single(let promise):
            if let error { promise.fail(error) } else { promise.succeed(MQTTPublishAck(reasonCode: Int(code))) }
        case .batch(let collector, let index):
            collector.complete(index, error.map { .failure($0) } ?? .success(MQTTPublishAck(reasonCode: Int(code))))
        case .ticket(let ticket):
            answers?.answer(ticket, .success(Int32(code)))
        case .subscription(let promise):
            if let error { promise.fail(error) } else { promise.succeed([code]) }
        case .ignored:
            break
        }
    }

    /// The outcome for an operation the connection ended before the broker answered.
    private func fail(_ waiter: Waiter, _ error: MQTTBridgeError) {
        switch waiter {
        case .single(let promise): promise.fail(error)
        case .batch(let collector, let index): collector.complete(index, .failure(error))
        case .ticket: break  // the owner fails all it tracks when the connection ends
        case .subscription(let promise): promise.fail(error)
        case .ignored: break
        }
    }

    /// The outcome for an operation refused before it was sent (too large, invalid filter):
    /// unlike a connection's end, this one a ticket's owner learns through the answer sink.
    private func refuse(_ waiter: Waiter, _ error: MQTTBridgeError) {
        if case .ticket(let ticket) = waiter { answers?.answer(ticket, .failure(error)) } else { fail(waiter, error) }
    }

    private func keepAliveTick() {
        guard let context, case .connected = state else { return }
        if pingOutstanding {
            fail(.brokerUnavailable("the broker did not answer a PINGREQ within the keep-alive"), context: context)
            return
        }
        pingOutstanding = true
        var buffer = context.channel.allocator.buffer(capacity: 2)
        MQTTControlPacket.pingReq.write(into: &buffer, version: version)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: - Operations (on the event loop)

    /// Writes a publish, or queues it while the window is full; `flush` is left to the caller so
    /// a batch goes out in one write. A QoS 0 publish is answered once written (code 0).
    func publish(_ header: MQTTPublishHeader, payload: ByteBuffer, waiter: Waiter?) {
        guard let context, case .connected = state else {
            if let waiter { fail(waiter, closedError.notSent) }
            return
        }
        if header.packetSize(payloadLength: payload.readableBytes, version: version) > brokerMaximumPacketSize {
            if let waiter { refuse(waiter, .packetTooLarge) }
            return
        }
        guard header.packetID == nil || waiter == nil || inFlight < window && unsent.isEmpty else {
            unsent.append(Unsent(header: header, payload: payload, waiter: waiter))
            return
        }
        write(header, payload: payload, waiter: waiter, context: context)
    }

    private var closedError: MQTTBridgeError {
        if case .closed(let error) = state { return error }
        return .brokerUnavailable("not connected")
    }

    private func write(_ header: MQTTPublishHeader, payload: ByteBuffer, waiter: Waiter?, context: ChannelHandlerContext) {
        var header = header
        if header.packetID != nil, let waiter {
            header.packetID = allocatePacketID(for: Slot(waiter: waiter, isPublish: true))
            inFlight += 1
        }
        var buffer = context.channel.allocator.buffer(capacity: header.packetSize(payloadLength: 0, version: version) + 8)
        header.write(into: &buffer, payloadLength: payload.readableBytes, version: version)
        context.write(wrapOutboundOut(buffer), promise: nil)
        // The payload goes out as its own buffer: a fan-out's copies share one, uncopied.
        context.write(wrapOutboundOut(payload), promise: nil)
        if header.packetID == nil, let waiter { complete(waiter, code: 0, error: nil) }
    }

    private func allocatePacketID(for slot: Slot) -> UInt16 {
        while waiting[Int(nextPacketID)] != nil {
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        }
        let id = nextPacketID
        waiting[Int(id)] = slot
        nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        return id
    }

    private func sendUnsent(context: ChannelHandlerContext) {
        while inFlight < window, let next = unsent.popFirst() {
            write(next.header, payload: next.payload, waiter: next.waiter, context: context)
        }
    }

    /// Whether a flush is queued behind the event loop's current tasks.
    private var flushQueued = false

    /// Flushes what ``publish(_:payload:waiter:)`` wrote — not at once, but after the tasks
    /// already queued on the event loop have run: publishes handed over from other threads
    /// meanwhile then leave in the same `writev` instead of one system call each.
    func flush() {
        guard !flushQueued else { return }
        flushQueued = true
        let this = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let handler = this.value
            handler.flushQueued = false
            handler.context?.flush()
        }
    }

    /// Sends SUBSCRIBE (`qos` set) or UNSUBSCRIBE; the waiter gets the broker's reason codes.
    func send(subscription filter: String, qos: MQTTQoS?, waiter: Waiter) {
        guard let context, case .connected = state else {
            fail(waiter, closedError.notSent)
            return
        }
        guard MQTTSubscriptionPacket.isValidFilter(filter) else {
            refuse(waiter, .invalidTopic(filter))
            return
        }
        let packetID = allocatePacketID(for: Slot(waiter: waiter, isPublish: false))
        let packet = qos.map { MQTTSubscriptionPacket(subscribe: filter, qos: $0, packetID: packetID) }
            ?? MQTTSubscriptionPacket(unsubscribe: filter, packetID: packetID)
        var buffer = context.channel.allocator.buffer(capacity: 16 + filter.utf8.count)
        // Cannot throw: the filter is valid and the identifier is not 0.
        try? packet.write(into: &buffer, version: version)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends DISCONNECT and closes.
    func disconnect() {
        guard let context else { return }
        if case .connected = state {
            var buffer = context.channel.allocator.buffer(capacity: 2)
            MQTTControlPacket.disconnect(reasonCode: 0).write(into: &buffer, version: version)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        fail(.shutDown, context: context)
    }

    /// Ends the connection: every outcome still open gets `error` — written publishes the
    /// in-flight form of it (their outcome is unknown), queued ones the not-sent form.
    private func fail(_ error: MQTTBridgeError, context: ChannelHandlerContext) {
        if case .closed = state { return }
        let previous = state
        state = .closed(error)
        if case .connecting(let promise) = previous { promise.fail(error) }
        finish(error, context: context)
    }

    private func finish(_ error: MQTTBridgeError, context: ChannelHandlerContext) {
        keepAliveTask?.cancel()
        keepAliveTask = nil
        for index in waiting.indices where waiting[index] != nil {
            let slot = waiting[index]!
            waiting[index] = nil
            fail(slot.waiter, slot.isPublish ? error.inFlight : error)
        }
        inFlight = 0
        while let next = unsent.popFirst() {
            if let waiter = next.waiter { fail(waiter, error.notSent) }
        }
        ended.succeed(MQTTConnectionEnd(reason: "\(error)", reasonCode: disconnectReasonCode, error: error))
        context.close(promise: nil)
    }
}

/// How a connection ended.
package struct MQTTConnectionEnd: Sendable {
    /// Why, for logs and errors.
    package var reason: String
    /// The reason code of the broker's DISCONNECT (MQTT 5), if it sent one: 0x8E is "session
    /// taken over" (another client connected with this client identifier).
    package var reasonCode: UInt8?
    /// The error operations still open got.
    package var error: MQTTBridgeError
}

extension MQTTBridgeError {
    /// This failure, for a publish that was written before it happened: its outcome is unknown.
    var inFlight: MQTTBridgeError {
        switch self {
        case .brokerUnavailable, .client, .shutDown: .connectionLost
        default: self
        }
    }

    /// This failure, for a publish that was never written.
    var notSent: MQTTBridgeError {
        switch self {
        case .connectionLost, .timedOut: .brokerUnavailable("connection lost")
        default: self
        }
    }
}

/// Collects the outcomes of a batch's publishes and completes once all are in.
final class MQTTBatchCollector {
    private var results: [Result<MQTTPublishAck, MQTTBridgeError>]
    private var remaining: Int
    private let promise: EventLoopPromise<[Result<MQTTPublishAck, MQTTBridgeError>]>

    init(count: Int, promise: EventLoopPromise<[Result<MQTTPublishAck, MQTTBridgeError>]>) {
        results = Array(repeating: .failure(.cancelled), count: count)
        remaining = count
        self.promise = promise
        if count == 0 { promise.succeed([]) }
    }

    func complete(_ index: Int, _ result: Result<MQTTPublishAck, MQTTBridgeError>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 { promise.succeed(results) }
    }
}
