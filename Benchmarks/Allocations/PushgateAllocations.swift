// Heap allocations per operation of the push path's hot units. Allocation counts, unlike
// timings, are deterministic, so `make test` holds each unit to a limit
// (Benchmarks/Allocations/limits.json) and a regression fails the build; the target beside it is
// where the unit should get to.
//
//   scripts/allocations.sh [--check] [--json FILE]
//
// (The script preloads ordo-one/malloc-interposer's library, without which nothing is counted.)
import Foundation
import MallocInterposerSwift
import MQTTBridge
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Pushgate
import PushgateTestSupport
import WebPush

/// A broker connection that acknowledges every publish at once: the push path without a broker
/// (whose own allocations are libmosquitto's).
final class AcknowledgingBroker: MQTTPublishing {
    func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError) -> MQTTPublishAck {
        MQTTPublishAck(reasonCode: 0)
    }
    var state: MQTTConnectionState { .connected }
    var isStalled: Bool { false }
    var carriesProperties: Bool { true }
}

/// One measured unit: its name, and one operation of it. Everything runs on the main thread (the
/// embedded channel requires one thread).
@MainActor
struct Unit {
    let name: String
    let what: String
    /// Operations one call performs (the count is divided by it: a list push's copies).
    var per = 1
    let operation: @MainActor () async throws -> Void

    init(name: String, what: String, per: Int = 1, operation: @escaping @MainActor () async throws -> Void) {
        self.name = name
        self.what = what
        self.per = per
        self.operation = operation
    }
}

/// Allocations per operation: warmed up (metadata, caches and buffers reach their steady state),
/// then counted over `iterations`.
@MainActor
func allocations(of unit: Unit, iterations: Int = 2_000) async throws -> Double {
    for _ in 0..<200 { try await unit.operation() }
    MallocInterposerSwift.reset()
    MallocInterposerSwift.hook()
    for _ in 0..<iterations { try await unit.operation() }
    MallocInterposerSwift.unhook()
    return Double(MallocInterposerSwift.getStatistics().mallocCount) / Double(iterations * unit.per)
}

struct Failure: Error, CustomStringConvertible {
    let description: String
}

/// The push request every unit works on: 4096 bytes of aes128gcm, TTL, Urgency, VAPID.
struct Fixture {
    static let origin = "https://push.example.net"
    let api: PushgateAPI
    let delivery: MQTTDelivery
    let subscription: Subscription
    let pushPath: String
    let headers: HTTPHeaders
    let body: ByteBuffer
    let verifier = VAPIDVerifier(origin: Fixture.origin)

    static func make() async throws -> Fixture {
        let store = MemoryStore()
        var settings = ServiceSettings(publicURL: origin)
        settings.rateLimits.pushesPerSubscription = nil
        let receipts = try await ReceiptCenter.load(from: store)
        let delivery = MQTTDelivery(publisher: AcknowledgingBroker(), topicPrefix: "webpush", secret: try await store.installationSecret(),
                                    store: store, observer: receipts)
        let registry = try await Registry.load(from: store)
        let api = PushgateAPI(settings: settings, registry: registry, delivery: delivery, receipts: receipts)
        let created = await api.handle(APIRequest(method: .POST, path: "/subscribe"))
        guard created.status == .created,
              let link = created.headers["Link"].first(where: { $0.contains("rel=\"urn:ietf:params:push\"") }),
              let start = link.firstIndex(of: "<"), let end = link.firstIndex(of: ">")
        else { throw Failure(description: "subscribe answered \(created.status)") }
        let pushPath = String(URL(string: String(link[link.index(after: start)..<end]))!.path)
        guard let token = PushToken(pushPath.split(separator: "/").last!), case .active(let subscription) = try await registry.lookup(pushToken: token)
        else { throw Failure(description: "no subscription behind \(pushPath)") }
        let key = VAPIDSigningKey.generate()
        var headers = HTTPHeaders()
        headers.add(name: "TTL", value: "60")
        headers.add(name: "Urgency", value: "high")
        headers.add(name: "Content-Encoding", value: "aes128gcm")
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Authorization", value: VAPIDToken.authorization(audience: origin, subject: "mailto:ops@example.net", key: key))
        // A real aes128gcm record: the 86-byte RFC 8188 header (keyid = a P-256 key), then ciphertext.
        var body = ByteBuffer()
        body.writeRepeatingByte(0x5A, count: 16)
        body.writeInteger(UInt32(4096))
        body.writeInteger(UInt8(65))
        body.writeInteger(UInt8(0x04))
        body.writeRepeatingByte(0x11, count: 64)
        body.writeRepeatingByte(0xA7, count: 4096 - body.readableBytes)
        return Fixture(api: api, delivery: delivery, subscription: subscription, pushPath: pushPath, headers: headers, body: body)
    }

    var request: APIRequest { APIRequest(method: .POST, path: pushPath, headers: headers, body: body, remoteAddress: "127.0.0.1") }
}

/// An HTTP/1.1 connection with only ``RequestHandler`` on it, whose route answers 201 at once:
/// the HTTP layer's own share of a push (HTTP/1 parsing is NIO's and not in it).
@MainActor
final class HandlerBench {
    let channel = EmbeddedChannel()
    let head: HTTPRequestHead
    let body: ByteBuffer

    nonisolated struct Answer201: HTTPResponder {
        func match(method: HTTPMethod, path: String) -> MatchedRoute {
            MatchedRoute(bodyLimit: 8192, label: "POST /p/{push}") { _ in APIResponse(status: .created) }
        }
    }

    init(_ fixture: Fixture) throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: fixture.pushPath, headers: fixture.headers)
        head.headers.add(name: "Content-Length", value: String(fixture.body.readableBytes))
        self.head = head
        self.body = fixture.body
        let handler = RequestHandler(responder: Answer201(), limits: RequestLimits(maxHeaderBytes: 16_384, requestTimeout: .seconds(10)),
                                     isHTTP2: false, tracker: RequestTracker(), activity: ConnectionActivity(), logger: .init(label: "bench"),
                                     accessLog: false)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    func push() throws {
        // One read, as a request sent in one piece arrives: head, body, end, then read complete.
        channel.pipeline.fireChannelRead(HTTPServerRequestPart.head(head))
        channel.pipeline.fireChannelRead(HTTPServerRequestPart.body(body))
        channel.pipeline.fireChannelRead(HTTPServerRequestPart.end(nil))
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.run()  // the request's task, then its answer
        var parts = 0
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            parts += 1
            if case .end = part { return }
        }
        throw Failure(description: "no complete response (\(parts) parts)")
    }
}

/// An HTTP/2 connection's request streams (``HTTP2RequestStreams``) fed one push's HEADERS and
/// DATA frames, whose route answers 201 at once: HPACK and framing are NIO's and not in it.
@MainActor
final class StreamsBench {
    let channel = EmbeddedChannel()
    let headers: HPACKHeaders
    let body: ByteBuffer
    var nextStream = 1

    init(_ fixture: Fixture) throws {
        var headers = HPACKHeaders([(":method", "POST"), (":scheme", "https"), (":authority", "push.example.net"), (":path", fixture.pushPath)])
        for (name, value) in fixture.headers { headers.add(name: name.lowercased(), value: value) }
        headers.add(name: "content-length", value: String(fixture.body.readableBytes))
        self.headers = headers
        self.body = fixture.body
        try channel.pipeline.syncOperations.addHandler(HTTP2RequestStreams(
            responder: HandlerBench.Answer201(), limits: RequestLimits(maxHeaderBytes: 16_384, requestTimeout: .seconds(10)),
            tracker: RequestTracker(), activity: ConnectionActivity(), logger: .init(label: "bench"), accessLog: false))
    }

    func push() throws {
        let id = HTTP2StreamID(nextStream)
        nextStream += 2
        channel.pipeline.fireChannelRead(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers))))
        channel.pipeline.fireChannelRead(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body), endStream: true))))
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.run()  // the request starts after the read, then its task runs
        guard let frame = try channel.readOutbound(as: HTTP2Frame.self), case .headers = frame.payload else {
            throw Failure(description: "no response HEADERS")
        }
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: id, reason: nil))
    }
}

@main @MainActor
struct PushgateAllocations {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let check = arguments.contains("--check")
        let jsonPath = arguments.firstIndex(of: "--json").map { arguments[arguments.index(after: $0)] }
        let limitsPath = arguments.firstIndex(of: "--limits").map { arguments[arguments.index(after: $0)] } ?? "Benchmarks/Allocations/limits.json"

        let fixture = try await Fixture.make()
        let handler = try HandlerBench(fixture)
        let streams = try StreamsBench(fixture)
        let now = Date()
        let topics = TopicScheme(prefix: "webpush")
        let listCopies = MessageID.random(count: 64).map { (recipient: Recipient.subscription(fixture.subscription), id: $0) }
        let units = [
            Unit(name: "push-headers", what: "TTL, Urgency, Topic, Content-Encoding and the RFC 8188 header parsed") {
                _ = try PushHeaders.ttl(fixture.headers)
                _ = try PushHeaders.urgency(fixture.headers)
                _ = try PushHeaders.topic(fixture.headers)
                _ = try PushHeaders.contentEncoding(fixture.headers, bodyLength: fixture.body.readableBytes)
                _ = try ContentCodingHeader(parsing: fixture.body.readableBytesView)
            },
            Unit(name: "vapid-cache-hit", what: "an Authorization header seen before, verified") {
                _ = try fixture.verifier.verify(authorization: fixture.headers["Authorization"].first, now: now)
            },
            Unit(name: "topic-and-properties", what: "the MQTT topic and MQTT 5 properties of one push, and its PUBLISH header written into a buffer") {
                let topic = topics.messageTopic(fixture.subscription, urgency: .high)
                var properties = MQTTProperties(correlationData: Array("00000000-0000-0000-0000-000000000000".utf8), userProperties: [
                    .init("message-id", "00000000-0000-0000-0000-000000000000"), .init("accepted-at", "2026-12-02T07:00:00Z"),
                    .init("content-encoding", "aes128gcm"),
                ])
                properties.messageExpiryInterval = 60
                properties.responseTopic = topics.ackTopic(fixture.subscription.topicID, set: fixture.subscription.set?.topicID)
                let header = MQTTPublishHeader(topic: topic, packetID: 1, properties: properties)
                try header.validate()
                var buffer = ByteBufferAllocator().buffer(capacity: header.packetSize(payloadLength: 0, version: .v5))
                header.write(into: &buffer, payloadLength: 4096, version: .v5)
                precondition(buffer.readableBytes > topic.utf8.count)
            },
            Unit(name: "delivery", what: "MQTTDelivery.deliver: topic, properties, publish (acknowledged at once), ledger") {
                let message = PushMessage(id: .random(), body: fixture.body, ttl: 60, urgency: .high, contentEncoding: "aes128gcm",
                                          acceptedAt: Int64(now.timeIntervalSince1970))
                _ = try await fixture.delivery.deliver(message, to: .subscription(fixture.subscription))
            },
            Unit(name: "list-copy", what: "one copy of a 64-member list push: its topic, properties, publish (acknowledged at once), ledger", per: 64) {
                let message = PushMessage(id: .random(), body: fixture.body, ttl: 60, urgency: .normal, contentEncoding: "aes128gcm",
                                          acceptedAt: Int64(now.timeIntervalSince1970))
                let failures = await fixture.delivery.deliver(message, copies: listCopies)
                guard failures.isEmpty else { throw Failure(description: "\(failures.count) copies failed") }
            },
            Unit(name: "push-route", what: "POST /p/{push} through the API: route, registry, policy, VAPID (cached), delivery, response") {
                let response = await fixture.api.handle(fixture.request)
                guard response.status == .created else { throw Failure(description: "push answered \(response.status)") }
            },
            Unit(name: "request-handler", what: "RequestHandler on HTTP/1.1: head, body, end in; task; 201 out") {
                try handler.push()
            },
            Unit(name: "http2-request-streams", what: "HTTP2RequestStreams: HEADERS and DATA frames in; task; 201 HEADERS out; stream closed") {
                try streams.push()
            },
        ]

        let limits = try (try? Data(contentsOf: URL(fileURLWithPath: limitsPath))).map {
            try JSONDecoder().decode([String: Limit].self, from: $0)
        } ?? [:]
        var results: [String: Double] = [:]
        var failures: [String] = []
        print("| unit | allocations per operation | limit | target | what |")
        print("|---|---:|---:|---:|---|")
        for unit in units {
            let count = try await allocations(of: unit)
            results[unit.name] = count
            let limit = limits[unit.name]
            print("| \(unit.name) | \(String(format: "%.1f", count)) | \(limit.map { String($0.limit) } ?? "-") | \(limit.map { String($0.target) } ?? "-") | \(unit.what) |")
            if let limit, count > Double(limit.limit) + 0.05 { failures.append("\(unit.name): \(String(format: "%.2f", count)) > \(limit.limit)") }
        }
        if let jsonPath {
            try JSONEncoder().encode(results).write(to: URL(fileURLWithPath: jsonPath))
        }
        guard MallocInterposerSwift.getStatistics().mallocCount > 0 || results.values.contains(where: { $0 > 0 }) else {
            print("nothing was counted: run with the interposer preloaded (scripts/allocations.sh)")
            exit(2)
        }
        if check, !failures.isEmpty {
            print("allocation regressions (over the limit in \(limitsPath)):\n  " + failures.joined(separator: "\n  "))
            exit(1)
        }
    }

    /// A unit's ceiling (a regression past it fails `make test`) and where it should get to.
    struct Limit: Decodable {
        let limit: Int
        let target: Int
    }
}
