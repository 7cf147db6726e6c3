import NIOCore

/// One message of a batch publish (``MQTTBridge/publish(batch:payload:qos:retain:)``): its own
/// topic and properties; the payload is the batch's.
public struct MQTTBatchMessage: Sendable {
    /// The topic (no wildcards).
    public var topic: String
    /// MQTT 5 properties (dropped on an MQTT 3.1.1 connection).
    public var properties: MQTTProperties

    /// A message to `topic` with `properties`.
    public init(topic: String, properties: MQTTProperties = MQTTProperties()) {
        self.topic = topic
        self.properties = properties
    }
}

extension MQTTBridge {
    /// Publishes the same payload to many topics, each message with its own properties, and
    /// returns once the broker has answered for every one: a result per message, in order.
    ///
    /// Each message has the semantics of ``publish(topic:payload:qos:retain:properties:)`` (the
    /// same window, timeout and errors), but the batch is sent in chunks of
    /// ``batchChunkSize``: one window acquisition, one lock and one hop to the connection's
    /// event loop per chunk, which writes the chunk's messages — all sharing one payload buffer —
    /// and flushes once; the caller resumes once per chunk rather than once per message. At
    /// most ``batchChunksInFlight`` chunks of one batch are in flight, so a large batch does not
    /// fill the whole window (single publishes keep their share).
    public func publish<Payload: Collection<UInt8> & Sendable>(
        batch: [MQTTBatchMessage],
        payload: Payload,
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false
    ) async -> [Result<MQTTPublishAck, MQTTBridgeError>] {
        await core.publish(batch: batch, payload: payload, qos: qos, retain: retain)
    }

    /// Messages of a batch sent together (one window acquisition, one wake-up, one resume); less
    /// when the window is smaller than ``batchChunksInFlight`` chunks of this size.
    public static let batchChunkSize = 64
    /// Chunks of one batch in flight at once.
    public static let batchChunksInFlight = 4
}

extension MQTTBridge.Core {
    func publish<Payload: Collection<UInt8> & Sendable>(
        batch: [MQTTBatchMessage], payload: Payload, qos: MQTTQoS, retain: Bool
    ) async -> [Result<MQTTPublishAck, MQTTBridgeError>] {
        guard !batch.isEmpty else { return [] }
        // Fail fast while down, as a single publish does: nothing of the batch is sent.
        if let refusal {
            counters.failed.add(batch.count, ordering: .relaxed)
            return Array(repeating: .failure(refusal), count: batch.count)
        }
        // Small enough that every chunk in flight fits the window at once (no stop-and-wait).
        let size = max(1, min(MQTTBridge.batchChunkSize, window.capacity / MQTTBridge.batchChunksInFlight))
        let chunks = (batch.count + size - 1) / size
        let next = Locked(0)
        typealias Sent = [(offset: Int, results: [Result<MQTTPublishAck, MQTTBridgeError>])]
        var results = [Result<MQTTPublishAck, MQTTBridgeError>](repeating: .failure(.cancelled), count: batch.count)
        await withTaskGroup(of: Sent.self) { group in
            for _ in 0..<min(chunks, MQTTBridge.batchChunksInFlight) {
                group.addTask {
                    var sent: Sent = []
                    while true {
                        let chunk = next.withLock { value in
                            defer { value += 1 }
                            return value
                        }
                        guard chunk < chunks else { return sent }
                        let range = chunk * size..<min(batch.count, (chunk + 1) * size)
                        sent.append((range.lowerBound, await self.publish(chunk: batch[range], payload: payload, qos: qos, retain: retain)))
                    }
                }
            }
            for await sent in group {
                for (offset, chunk) in sent {
                    for (index, result) in chunk.enumerated() { results[offset + index] = result }
                }
            }
        }
        return results
    }

    /// One chunk: its window slots at once, every message handed to the connection under one
    /// lock and in one hop to its event loop; resumes when the broker answered for all of them.
    private func publish<Payload: Collection<UInt8>>(
        chunk: ArraySlice<MQTTBatchMessage>, payload: Payload, qos: MQTTQoS, retain: Bool
    ) async -> [Result<MQTTPublishAck, MQTTBridgeError>] {
        let count = chunk.count
        let started = ContinuousClock.now
        do {
            try await window.acquire(count: count)
        } catch {
            counters.failed.add(count, ordering: .relaxed)
            return Array(repeating: .failure(error as? MQTTBridgeError ?? .cancelled), count: count)
        }
        // Reset while it waited: nobody wants the outcome, so nothing more is sent.
        if Task.isCancelled {
            window.release(count: count)
            counters.failed.add(count, ordering: .relaxed)
            return Array(repeating: .failure(.cancelled), count: count)
        }
        // Checked before anything is sent; a message that cannot be sent gives its slot back.
        var headers: [(index: Int, header: MQTTPublishHeader)] = []
        var refused: [(index: Int, error: MQTTBridgeError)] = []
        headers.reserveCapacity(count)
        for (index, message) in chunk.enumerated() {
            do throws(MQTTBridgeError) {
                headers.append((index, try publishHeader(topic: message.topic, qos: qos, retain: retain, properties: message.properties)))
            } catch {
                refused.append((index, error))
            }
        }
        if !refused.isEmpty { window.release(count: refused.count) }
        let body = Self.buffer(payload)

        let codes = await withCheckedContinuation { (continuation: CheckedContinuation<[Result<Int32, MQTTBridgeError>], Never>) in
            let completion = ChunkCompletion(count: count, continuation: continuation)
            for (index, error) in refused { completion.complete(index, .failure(error)) }
            guard !headers.isEmpty else { return }
            let window = self.window
            connection.withLock { connection in
                let handle: Handle
                do throws(MQTTBridgeError) {
                    handle = try connection.handleForUse()
                } catch {
                    window.release(count: headers.count)
                    for (index, _) in headers { completion.complete(index, .failure(error)) }
                    return
                }
                var ticketed: [(header: MQTTPublishHeader, ticket: Int32)] = []
                ticketed.reserveCapacity(headers.count)
                for (index, header) in headers {
                    let ticket = ticket()
                    // Under the connection lock, as a single publish registers (see there).
                    pending.register(ticket, windowed: true, since: started) { result in
                        // A timed-out message keeps its slot until the broker settles it.
                        if case .failure(.timedOut) = result {} else { window.release() }
                        completion.complete(index, result)
                    }
                    ticketed.append((header, ticket))
                }
                handle.connection.publish(ticketed: ticketed, payload: body)
            }
        }
        return codes.map(settle)
    }
}

/// The answers for one chunk of a batch, collected as they arrive (on the connection's event
/// loop, or at once for a message refused before sending); the waiting task resumes with the
/// last one.
final class ChunkCompletion: Sendable {
    private struct State {
        var results: [Result<Int32, MQTTBridgeError>]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<Int32, MQTTBridgeError>], Never>?
    }

    private let state: Locked<State>

    init(count: Int, continuation: CheckedContinuation<[Result<Int32, MQTTBridgeError>], Never>) {
        state = Locked(State(results: Array(repeating: .failure(.connectionLost), count: count), remaining: count, continuation: continuation))
    }

    /// Records the answer for the message at `index` (exactly once per message).
    func complete(_ index: Int, _ result: Result<Int32, MQTTBridgeError>) {
        let finished: (CheckedContinuation<[Result<Int32, MQTTBridgeError>], Never>, [Result<Int32, MQTTBridgeError>])? = state.withLock { state in
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, state.results)
        }
        if let (continuation, results) = finished { continuation.resume(returning: results) }
    }
}
