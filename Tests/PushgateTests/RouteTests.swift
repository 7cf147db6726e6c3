import Foundation
import MQTTBridge
import NIOCore
import NIOHTTP1
import Testing
import WebPush
@testable import Pushgate

@Suite("Admin routes (fakes, no I/O)")
struct RouteTests {
    let delivery = RecordingDelivery()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let appKey = VAPIDSigningKey.generate()
    let secret = (0..<32).map { UInt8($0) }

    func service(_ routes: [RouteConfig]) async throws -> PushService {
        let fixed = now
        return PushService(settings: .init(publicURL: "https://push.example.net"), registry: try await Registry.load(from: MemoryStore()),
                           delivery: delivery, routes: RouteTable(routes, secret: secret), clock: { fixed })
    }

    func push(_ service: PushService, _ token: String, _ headers: [(String, String)], body: [UInt8] = []) async -> ServiceResponse {
        await service.handle(ServiceRequest(method: .POST, path: "/r/\(token)", headers: HTTPHeaders(headers), body: ByteBuffer(bytes: body)))
    }

    func vapid(_ key: VAPIDSigningKey) -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: key, now: now))
    }

    @Test("route tokens: stable for a name and secret, different for another name or secret, capability-shaped")
    func tokens() {
        let token = RouteToken.derive(name: "fleet", secret: secret)
        #expect(token == RouteToken.derive(name: "fleet", secret: secret))
        #expect(token != RouteToken.derive(name: "fleet2", secret: secret))
        #expect(token != RouteToken.derive(name: "fleet", secret: secret.reversed()))
        #expect(CapabilityToken.isWellFormed(Substring(token)))
    }

    @Test("a push to a route is one publish to its exact topic with the mapped properties")
    func mapping() async throws {
        let route = RouteConfig(name: "fleet", topic: "fleet/all", vapidKeys: [appKey.publicKey])
        let service = try await service([route])
        let token = service.routeTable.entries[0].token
        let body = try WebPushCrypto.encrypt(Array("update".utf8), for: WebPushReceiverKeys.generate().subscriberKeys)
        let response = await push(service, token, [("TTL", "600"), ("Urgency", "high"), ("Content-Encoding", "aes128gcm"), vapid(appKey)], body: body)
        #expect(response.status == .created)
        #expect(response.headers["TTL"] == ["600"])
        let message = try #require(delivery.messages.first)
        #expect(delivery.messages.count == 1)
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
        let service = try await service([RouteConfig(name: "fleet", topic: "fleet/all", vapidKeys: [appKey.publicKey])])
        let token = service.routeTable.entries[0].token
        let anonymous = await push(service, token, [("TTL", "60")])
        #expect(anonymous.status == .unauthorized && anonymous.headers["WWW-Authenticate"] == ["vapid"])
        let stranger = await push(service, token, [("TTL", "60"), vapid(.generate())])
        #expect(stranger.status == .forbidden && String(buffer: stranger.body).contains("\"errno\":150"))
        let topic = await push(service, token, [("TTL", "60"), ("Topic", "news"), vapid(appKey)])
        #expect(topic.status == .badRequest && String(buffer: topic.body).contains("\"errno\":151"))
        #expect(await push(service, CapabilityToken.make(), [("TTL", "60"), vapid(appKey)]).status == .notFound)
        #expect(delivery.messages.isEmpty)
    }

    @Test("reloading swaps the table: a removed route 404s, an added one works, a kept one keeps its URL")
    func reload() async throws {
        let kept = RouteConfig(name: "kept", topic: "fleet/kept", vapidKeys: [appKey.publicKey])
        let service = try await service([kept, RouteConfig(name: "old", topic: "fleet/old", vapidKeys: [appKey.publicKey])])
        let keptToken = service.routeTable.entries[0].token
        let oldToken = service.routeTable.entries[1].token
        service.reloadRoutes(RouteTable([kept, RouteConfig(name: "new", topic: "fleet/new", vapidKeys: [appKey.publicKey])], secret: secret))
        #expect(service.routeTable.entries[0].token == keptToken)
        #expect(await push(service, oldToken, [("TTL", "0"), vapid(appKey)]).status == .notFound)
        #expect(await push(service, keptToken, [("TTL", "0"), vapid(appKey)]).status == .created)
        #expect(await push(service, service.routeTable.entries[1].token, [("TTL", "0"), vapid(appKey)]).status == .created)
        #expect(delivery.messages.map(\.topic) == ["fleet/kept", "fleet/new"])
        #expect(delivery.messages.allSatisfy { $0.qos == .atMostOnce })
    }
}
