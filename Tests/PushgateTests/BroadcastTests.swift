import Foundation
import MQTTBridge
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

@Suite("Broadcast routes (recording broker, no I/O)")
struct BroadcastTests {
    let broker = RecordingPublisher()
    let now = TestAPI.now
    let appKey = VAPIDSigningKey.generate()
    let secret = (0..<32).map { UInt8($0) }

    func service(_ routes: [BroadcastConfig]) async throws -> PushgateAPI {
        try await TestAPI(store: MemoryStore(), broker: broker, broadcasts: BroadcastTable(routes, secret: secret)).api
    }

    func push(_ service: PushgateAPI, _ token: BroadcastToken, _ headers: [(String, String)], body: [UInt8] = []) async -> APIResponse {
        await service.handle(APIRequest(method: .POST, path: "/r/\(token.rawValue)", headers: HTTPHeaders(headers), body: ByteBuffer(bytes: body)))
    }

    func vapid(_ key: VAPIDSigningKey) -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: key, now: now))
    }

    @Test("route tokens: stable for a name and secret, different for another name or secret, capability-shaped")
    func tokens() {
        let token = BroadcastToken.derive(name: "fleet", secret: secret)
        #expect(token == BroadcastToken.derive(name: "fleet", secret: secret))
        #expect(token != BroadcastToken.derive(name: "fleet2", secret: secret))
        #expect(token != BroadcastToken.derive(name: "fleet", secret: secret.reversed()))
        #expect(BroadcastToken(token.rawValue) == token)
    }

    @Test("a push to a route is one publish to its exact topic with the mapped properties")
    func mapping() async throws {
        let route = BroadcastConfig(name: "fleet", topic: "fleet/all", vapidKeys: [appKey.publicKey])
        let service = try await service([route])
        let token = service.broadcastTable.entries[0].token
        let body = try WebPushCrypto.encrypt(Array("update".utf8), for: WebPushReceiverKeys.generate().subscriberKeys)
        let response = await push(service, token, [("TTL", "600"), ("Urgency", "high"), ("Content-Encoding", "aes128gcm"), vapid(appKey)], body: body)
        #expect(response.status == .created)
        #expect(response.headers["TTL"] == ["600"])
        let message = try #require(broker.messages.first)
        #expect(broker.messages.count == 1)
        #expect(message.topic == "fleet/all" && !message.retain && message.qos == .atLeastOnce)
        #expect(Array(message.payload.readableBytesView) == body)
        #expect(message.properties.messageExpiryInterval == 600)
        #expect(message.properties.userProperty("urgency") == "high")
        #expect(message.properties.userProperty("content-encoding") == "aes128gcm")
        let id = try #require(message.properties.userProperty("message-id"))
        #expect(response.headers["Location"] == ["https://push.example.net/m/\(id)"])
    }

    @Test("VAPID is required and limited to the route's keys; Topic is refused; nothing is published")
    func refusals() async throws {
        let service = try await service([BroadcastConfig(name: "fleet", topic: "fleet/all", vapidKeys: [appKey.publicKey])])
        let token = service.broadcastTable.entries[0].token
        let anonymous = await push(service, token, [("TTL", "60")])
        #expect(anonymous.status == .unauthorized && anonymous.headers["WWW-Authenticate"] == ["vapid"])
        let stranger = await push(service, token, [("TTL", "60"), vapid(.generate())])
        #expect(stranger.status == .forbidden && String(buffer: stranger.body).contains("\"errno\":150"))
        let topic = await push(service, token, [("TTL", "60"), ("Topic", "news"), vapid(appKey)])
        #expect(topic.status == .badRequest && String(buffer: topic.body).contains("\"errno\":151"))
        #expect(await push(service, .random(), [("TTL", "60"), vapid(appKey)]).status == .notFound)
        #expect(broker.messages.isEmpty)
    }

    @Test("reloading swaps the table: a removed route 404s, an added one works, a kept one keeps its URL")
    func reload() async throws {
        let kept = BroadcastConfig(name: "kept", topic: "fleet/kept", vapidKeys: [appKey.publicKey])
        let service = try await service([kept, BroadcastConfig(name: "old", topic: "fleet/old", vapidKeys: [appKey.publicKey])])
        let keptToken = service.broadcastTable.entries[0].token
        let oldToken = service.broadcastTable.entries[1].token
        service.reloadBroadcasts(BroadcastTable([kept, BroadcastConfig(name: "new", topic: "fleet/new", vapidKeys: [appKey.publicKey])], secret: secret))
        #expect(service.broadcastTable.entries[0].token == keptToken)
        #expect(await push(service, oldToken, [("TTL", "0"), vapid(appKey)]).status == .notFound)
        #expect(await push(service, keptToken, [("TTL", "0"), vapid(appKey)]).status == .created)
        #expect(await push(service, service.broadcastTable.entries[1].token, [("TTL", "0"), vapid(appKey)]).status == .created)
        #expect(broker.messages.map(\.topic) == ["fleet/kept", "fleet/new"])
        #expect(broker.messages.allSatisfy { $0.qos == .atMostOnce })
    }
}
