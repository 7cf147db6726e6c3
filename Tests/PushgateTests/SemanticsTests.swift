import Foundation
import MQTTBridge
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

/// Delivery semantics (issue 11): Topic replacement without retained messages, message resources,
/// links that cannot be honoured, per-copy ids, sets, tombstones. Real mapping, recording broker.
@Suite("Delivery semantics (recording broker, no I/O)")
struct SemanticsTests {
    let store = MemoryStore()
    let broker = RecordingPublisher()

    func api(_ adjust: (inout ServiceSettings) -> Void = { _ in }) async throws -> TestAPI {
        try await TestAPI(store: store, broker: broker, settings: adjust)
    }

    func subscribe(_ api: PushgateAPI, _ headers: [(String, String)] = []) async throws -> [String: Any] {
        let response = await api.handle(APIRequest(method: .POST, path: "/subscribe", headers: HTTPHeaders(headers)))
        #expect(response.status == .created)
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    func path(_ url: Any?) -> String { String((url as! String).dropFirst(TestAPI.publicURL.count)) }

    func push(_ api: PushgateAPI, _ endpoint: Any?, _ headers: [(String, String)], body: [UInt8] = []) async -> APIResponse {
        await api.handle(APIRequest(method: .POST, path: path(endpoint), headers: HTTPHeaders(headers), body: ByteBuffer(bytes: body)))
    }

    func id(_ message: RecordingPublisher.Publish) throws -> MessageID {
        try #require(message.properties.userProperty("message-id").flatMap(MessageID.init))
    }

    @Test("a Topic message goes out at QoS 0, never retained, and is held under a keyed slot, without its value")
    func topicHeld() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        let response = await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", "door"), ("Urgency", "high")])
        #expect(response.status == .created)
        let sent = try #require(broker.messages.first)
        #expect(sent.qos == .atMostOnce && !sent.retain && sent.topic.hasSuffix("/high"))
        #expect(sent.properties.messageExpiryInterval == 60)
        let held = try #require(store.storedHeld.values.first)
        #expect(held.id == (try id(sent)) && held.slot.count == 16 && !held.slot.contains("door"))
        #expect(held.slot != TopicSlot(secret: Array(repeating: 9, count: 32)).slot(for: "door", of: held.topicID), "keyed by the secret")
        #expect(broker.messages.allSatisfy { $0.properties.userProperties.allSatisfy { $0.value != "door" } })
    }

    @Test("a newer message with the same Topic replaces the held one; another Topic is held beside it")
    func replacement() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        for (topic, urgency) in [("door", "low"), ("door", "high"), ("window", "normal")] {
            #expect(await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", topic), ("Urgency", urgency)]).status == .created)
        }
        let ids = try broker.messages.map(id)
        #expect(Set(store.storedHeld.keys) == [ids[1], ids[2]])
        #expect(test.delivery.heldInMemory == 2)
    }

    @Test("TTL 0 with a Topic is never held, and it replaces what was held (now or never, P-26)")
    func ttlZeroTopic() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        #expect(await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", "door")]).status == .created)
        #expect(await push(test.api, sub["endpoint"], [("TTL", "0"), ("Topic", "door")]).status == .created)
        #expect(broker.messages.count == 2 && broker.messages.allSatisfy { !$0.retain })
        #expect(broker.messages[1].properties.messageExpiryInterval == nil)
        #expect(store.storedHeld.isEmpty && test.delivery.heldInMemory == 0)
    }

    @Test("an empty Topic message is a message like any other: published empty, not retained, held")
    func emptyTopic() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        #expect(await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", "door")], body: []).status == .created)
        #expect(broker.messages.count == 1 && broker.messages[0].payload.readableBytes == 0 && !broker.messages[0].retain)
        #expect(store.storedHeld.count == 1)
    }

    @Test("DELETE /m/<id> acknowledges (204), then 410; unknown 404; it releases a held Topic message")
    func messageResource() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        let plain = await push(test.api, sub["endpoint"], [("TTL", "60")])
        let topic = await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", "door")])
        for response in [plain, topic] {
            let location = path(response.headers["Location"].first)
            #expect(await test.api.handle(APIRequest(method: .DELETE, path: location)).status == .noContent)
            let again = await test.api.handle(APIRequest(method: .DELETE, path: location))
            #expect(again.status == .gone && String(buffer: again.body).contains("\"errno\":125"))
        }
        #expect(store.storedHeld.isEmpty)
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: "/m/\(MessageID.random().rawValue)")).status == .notFound)
        #expect(broker.messages.count == 2, "an acknowledgement sends nothing to the device")
    }

    @Test("the MQTT acknowledgement releases a held message; 'ready' and the resend schedule send it again until then")
    func resend() async throws {
        let clock = NIOLockedValueBox<Int64>(1_000)
        let delivery = MQTTDelivery(publisher: broker, topicPrefix: "webpush", secret: store.secret, store: store, clock: { clock.withLockedValue { $0 } })
        let subscription = Subscription.make(restrictionKey: nil, now: 1_000, set: .make(now: 1_000))
        let message = PushMessage(id: .random(), body: ByteBuffer(string: "x"), ttl: 100, topic: "door", acceptedAt: 1_000)
        try await delivery.deliver(message, to: .subscription(subscription))
        #expect(broker.messages.count == 1)
        await delivery.deviceReady(subscription.set!.topicID)          // ready for the whole set
        #expect(broker.messages.count == 2 && broker.messages[1].properties.messageExpiryInterval == 100)
        clock.withLockedValue { $0 = 1_005 }
        await delivery.resendDue()
        #expect(broker.messages.count == 2, "not due before 10 s")
        clock.withLockedValue { $0 = 1_010 }
        await delivery.resendDue()
        #expect(broker.messages.count == 3 && broker.messages[2].properties.messageExpiryInterval == 90, "the remaining TTL")
        #expect(try await delivery.acknowledge(message.id) == .acknowledged)
        clock.withLockedValue { $0 = 1_050 }
        await delivery.resendDue()
        await delivery.deviceReady(subscription.topicID)
        #expect(broker.messages.count == 3 && store.storedHeld.isEmpty)
    }

    @Test("held messages survive a restart; expired ones are dropped, never sent")
    func restart() async throws {
        let clock = NIOLockedValueBox<Int64>(1_000)
        let first = MQTTDelivery(publisher: broker, topicPrefix: "webpush", secret: store.secret, store: store, clock: { clock.withLockedValue { $0 } })
        let subscription = Subscription.make(restrictionKey: nil, now: 1_000)
        try await first.deliver(PushMessage(id: .random(), body: ByteBuffer(string: "a"), ttl: 30, topic: "a", acceptedAt: 1_000), to: .subscription(subscription))
        try await first.deliver(PushMessage(id: .random(), body: ByteBuffer(string: "b"), ttl: 300, topic: "b", acceptedAt: 1_000), to: .subscription(subscription))
        clock.withLockedValue { $0 = 1_100 }
        let second = MQTTDelivery(publisher: broker, topicPrefix: "webpush", secret: store.secret, store: store, clock: { clock.withLockedValue { $0 } })
        #expect(try await second.resume() == 1)
        await second.deviceReady(subscription.topicID)
        #expect(String(buffer: broker.messages.last!.payload) == "b")
    }

    @Test("Topic on an MQTT 3.1.1 connection is refused with 400 (errno 108), nothing published")
    func mqtt311() async throws {
        broker.carriesProperties = false
        let test = try await api()
        let sub = try await subscribe(test.api)
        let response = await push(test.api, sub["endpoint"], [("TTL", "60"), ("Topic", "door")])
        #expect(response.status == .badRequest && String(buffer: response.body).contains("\"errno\":108"))
        #expect(broker.messages.isEmpty)
    }

    @Test("a receipt Link that cannot be honoured is 400 (errno 112), nothing published (P-39)")
    func receiptLink() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        let response = await push(test.api, sub["endpoint"], [("TTL", "60"), ("Prefer", "respond-async"),
                                                              ("Link", "<https://push.example.net/rs/x>; rel=\"urn:ietf:params:push:receipt\"")])
        #expect(response.status == .badRequest && String(buffer: response.body).contains("\"errno\":112"))
        #expect(broker.messages.isEmpty)
    }

    @Test("sets: every subscribe gets one; presenting it joins it (one filter for both); unknown, foreign or deleted → 400")
    func sets() async throws {
        let test = try await api()
        let first = try await subscribe(test.api)
        let set = try #require(first["set"] as? String)
        #expect(set.hasPrefix("https://push.example.net/set/"))
        let second = try await subscribe(test.api, [("Link", "<\(set)>; rel=\"urn:ietf:params:push:set\"")])
        #expect(second["set"] as? String == set && second["mqtt_set_topic"] as? String == first["mqtt_set_topic"] as? String)
        let filter = try #require(first["mqtt_set_topic"] as? String)
        #expect(filter.hasSuffix("/#") && (second["mqtt_topic"] as! String).hasPrefix(String(filter.dropLast())))
        for bad in ["https://push.example.net/set/\(SetID.random().rawValue)", "https://elsewhere.example/set/\(SetID.random().rawValue)", "not a url"] {
            let response = await test.api.handle(APIRequest(method: .POST, path: "/subscribe", headers: ["Link": "<\(bad)>; rel=\"urn:ietf:params:push:set\""]))
            #expect(response.status == .badRequest && String(buffer: response.body).contains("\"errno\":113"))
        }
        // P-69: deleting the set deletes both subscriptions; joining it afterwards is refused.
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: path(set))).status == .noContent)
        #expect(await push(test.api, first["endpoint"], [("TTL", "5")]).status == .gone)
        #expect(await push(test.api, second["endpoint"], [("TTL", "5")]).status == .gone)
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: path(set))).status == .notFound)
        let late = await test.api.handle(APIRequest(method: .POST, path: "/subscribe", headers: ["Link": "<\(set)>; rel=\"urn:ietf:params:push:set\""]))
        #expect(late.status == .badRequest)
        #expect(broker.messages.isEmpty)
    }

    @Test("a list push gives each member's copy its own message id, none equal to the Location's")
    func perCopyIDs() async throws {
        let key = VAPIDSigningKey.generate()
        let test = try await api()
        let a = try await subscribe(test.api), b = try await subscribe(test.api)
        let auth = ("Authorization", VAPIDToken.authorization(audience: TestAPI.publicURL, subject: nil, key: key, now: TestAPI.now))
        let created = await test.api.handle(APIRequest(method: .POST, path: "/lists", headers: HTTPHeaders([auth, ("Content-Type", "application/push-aggregation+json")]),
                                                       body: ByteBuffer(string: #"{"\#(a["endpoint"]!)":{},"\#(b["endpoint"]!)":{}}"#)))
        let listPush = String(created.headers["Link"].first!.dropFirst().prefix { $0 != ">" })
        let pushed = await push(test.api, listPush, [auth, ("TTL", "60")])
        #expect(pushed.status == .created)
        let ids = try broker.messages.map(id)
        let location = pushed.headers["Location"].first!
        #expect(Set(ids).count == 2 && ids.allSatisfy { !location.hasSuffix($0.rawValue) })
        #expect(Set(broker.messages.compactMap { $0.properties.correlationData }).count == 2)
    }

    @Test("deleted subscriptions are remembered (410) until purged, then unknown (404) and freed")
    func tombstones() async throws {
        let test = try await api()
        let sub = try await subscribe(test.api)
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: path(sub["subscription"]))).status == .noContent)
        #expect(await push(test.api, sub["endpoint"], [("TTL", "5")]).status == .gone)
        try await test.api.registry.purgeDeleted(before: Int64(TestAPI.now.timeIntervalSince1970) + 1)
        #expect(test.api.registry.deletedCount == 0)
        #expect(await push(test.api, sub["endpoint"], [("TTL", "5")]).status == .notFound)
        #expect(try await store.load().deletedPushTokens.isEmpty)
    }

    @Test("RFC 3339 formatting by integer arithmetic matches Foundation's, across eras and leap days")
    func acceptedAtFormat() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        for time: Int64 in [0, 951_782_400, 1_709_164_800, 1_800_000_000, 4_102_444_799, -86_401, 253_402_300_799] {
            #expect(RFC3339.format(time) == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time))), "\(time)")
        }
    }
}
