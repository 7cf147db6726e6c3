import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

/// Delivery receipts (RFC 8030 §5.1, §6.3) through the API, with the real mapping over a
/// recording broker and the store in memory.
@Suite("Receipts (recording broker, no I/O)")
struct ReceiptTests {
    let store = MemoryStore()
    let broker = RecordingPublisher()
    let server = VAPIDSigningKey.generate()

    func auth(_ key: VAPIDSigningKey? = nil) -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: TestAPI.publicURL, subject: nil, key: key ?? server, now: TestAPI.now))
    }

    func path(_ url: String) -> String { String(url.dropFirst(TestAPI.publicURL.count)) }

    func receiptSubscription(_ api: PushgateAPI) async throws -> String {
        let response = await api.handle(APIRequest(method: .POST, path: "/receipts", headers: HTTPHeaders([auth()])))
        #expect(response.status == .created)
        return try #require(response.headers["Location"].first)
    }

    func subscribe(_ api: PushgateAPI) async throws -> (endpoint: String, links: [String]) {
        let response = await api.handle(APIRequest(method: .POST, path: "/subscribe"))
        let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        return (body["endpoint"] as! String, response.headers["Link"])
    }

    func pushWithReceipt(_ api: PushgateAPI, _ endpoint: String, _ receipts: String, ttl: Int = 60) async -> APIResponse {
        await api.handle(APIRequest(method: .POST, path: path(endpoint), headers: HTTPHeaders([
            ("TTL", String(ttl)), ("Prefer", "respond-async"), ("Link", "<\(receipts)>; rel=\"urn:ietf:params:push:receipt\""),
        ])))
    }

    @Test("subscribe advertises the receipt subscribe resource; POST needs VAPID; a push asking for a receipt gets 202 + Location + Link")
    func requestReceipt() async throws {
        let test = try await TestAPI(store: store, broker: broker)
        let (endpoint, links) = try await subscribe(test.api)
        #expect(links.contains("<https://push.example.net/receipts>; rel=\"urn:ietf:params:push:receipt\""))
        #expect(await test.api.handle(APIRequest(method: .POST, path: "/receipts")).status == .unauthorized)
        let receipts = try await receiptSubscription(test.api)
        #expect(receipts.hasPrefix("https://push.example.net/rs/"))
        let accepted = await pushWithReceipt(test.api, endpoint, receipts)
        #expect(accepted.status == .accepted)
        #expect(accepted.headers["Link"] == ["<\(receipts)>; rel=\"urn:ietf:params:push:receipt\""])
        let location = try #require(accepted.headers["Location"].first)
        #expect(location.hasSuffix(try #require(broker.messages.first?.properties.userProperty("message-id"))))
        // respond-async without a Link, and a Link to nothing: 400, nothing more published.
        let missing = await test.api.handle(APIRequest(method: .POST, path: path(endpoint), headers: ["TTL": "5", "Prefer": "respond-async"]))
        #expect(missing.status == .badRequest && String(buffer: missing.body).contains("\"errno\":160"))
        #expect(await pushWithReceipt(test.api, endpoint, "https://push.example.net/rs/\(ReceiptSubscriptionID.random().rawValue)").status == .badRequest)
        #expect(broker.messages.count == 1)
    }

    @Test("an acknowledgement (MQTT or DELETE /m) gives a 204 receipt; an expired message a 410; they wait in the store until streamed")
    func outcomes() async throws {
        let test = try await TestAPI(store: store, broker: broker)
        let (endpoint, _) = try await subscribe(test.api)
        let receipts = try await receiptSubscription(test.api)
        let acked = await pushWithReceipt(test.api, endpoint, receipts)
        let deleted = await pushWithReceipt(test.api, endpoint, receipts)
        let expiring = await pushWithReceipt(test.api, endpoint, receipts, ttl: 0)
        let ids = try broker.messages.map { try #require($0.properties.userProperty("message-id").flatMap(MessageID.init)) }
        #expect(try await test.delivery.acknowledge(ids[0]) == .acknowledged)                       // the MQTT path
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: path(deleted.headers["Location"][0]))).status == .noContent)
        await test.receipts.expireDue()
        #expect(Set(store.storedReceipts.map { "\($0.message.rawValue) \($0.status.rawValue)" })
                == ["\(ids[0].rawValue) 204", "\(ids[1].rawValue) 204", "\(ids[2].rawValue) 410"])
        _ = (acked, expiring)

        // A stream gives them, and each is forgotten once written.
        let stream = await test.api.handle(APIRequest(method: .GET, path: path(receipts), headers: ["Accept": "text/event-stream"]))
        #expect(stream.status == .ok && stream.headers["Content-Type"] == ["text/event-stream"])
        var events: [String] = []
        for await chunk in try #require(stream.stream).chunks {
            events.append(String(buffer: chunk.bytes))
            await chunk.written()
            if events.count == 4 { break }
        }
        #expect(events[0].hasPrefix(":"))
        #expect(events.dropFirst().allSatisfy { $0.hasPrefix("event: receipt\nid: ") && $0.contains("\"message\":\"https://push.example.net/m/") })
        #expect(events.contains { $0.contains(ids[2].rawValue) && $0.contains("\"status\":410") })
        #expect(store.storedReceipts.isEmpty)
    }

    @Test("receipts survive a restart: a new center loaded from the store streams them")
    func restart() async throws {
        let first = try await TestAPI(store: store, broker: broker)
        let (endpoint, _) = try await subscribe(first.api)
        let receipts = try await receiptSubscription(first.api)
        _ = await pushWithReceipt(first.api, endpoint, receipts)
        let id = try #require(broker.messages.first?.properties.userProperty("message-id").flatMap(MessageID.init))
        // Acknowledged after a restart: the request itself was durable.
        let second = try await TestAPI(store: store, broker: broker)
        #expect(try await second.delivery.acknowledge(id) == .acknowledged)
        let third = try await TestAPI(store: store, broker: broker)
        let subscription = try #require(ReceiptSubscriptionID(receipts.split(separator: "/").last!))
        let stream = try #require(try await third.receipts.receipts(of: subscription))
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next()?.message == id)
    }

    @Test("a list push with a receipt: 202, one receipt per member copy, naming the copy")
    func listReceipts() async throws {
        let test = try await TestAPI(store: store, broker: broker)
        let a = try await subscribe(test.api), b = try await subscribe(test.api)
        let created = await test.api.handle(APIRequest(method: .POST, path: "/lists", headers: HTTPHeaders([auth(), ("Content-Type", "application/push-aggregation+json")]),
                                                       body: ByteBuffer(string: #"{"\#(a.endpoint)":{},"\#(b.endpoint)":{}}"#)))
        let listPush = String(created.headers["Link"][0].dropFirst().prefix { $0 != ">" })
        let receipts = try await receiptSubscription(test.api)
        let pushed = await test.api.handle(APIRequest(method: .POST, path: path(listPush), headers: HTTPHeaders([
            auth(), ("TTL", "60"), ("Prefer", "respond-async"), ("Link", "<\(receipts)>; rel=\"urn:ietf:params:push:receipt\""),
        ])))
        #expect(pushed.status == .accepted)
        for message in broker.messages {
            #expect(try await test.delivery.acknowledge(try #require(message.properties.userProperty("message-id").flatMap(MessageID.init))) == .acknowledged)
        }
        let copies = Set(broker.messages.compactMap { $0.properties.userProperty("message-id") })
        #expect(Set(store.storedReceipts.map(\.message.rawValue)) == copies && copies.count == 2)
    }

    @Test("bounds: receipt subscriptions per key (403, errno 162), receipts pending per subscription (429, errno 161); a broadcast refuses receipts (errno 152)")
    func bounds() async throws {
        let test = try await TestAPI(store: store, broker: broker)
        let limited = try await ReceiptCenter.load(from: MemoryStore(), limits: { var limits = ReceiptsConfig(); limits.maxSubscriptionsPerKey = 1; limits.maxPendingPerSubscription = 1; return limits }())
        let key = VAPIDSigningKey.generate().publicKey
        let subscription = try await limited.create(creator: key)
        await #expect(throws: ReceiptCenter.Refusal.tooManySubscriptions(1)) { try await limited.create(creator: key) }
        try await limited.track([.random()], on: subscription.id, expiresAt: 10)
        await #expect(throws: ReceiptCenter.Refusal.tooManyPending(1)) { try await limited.track([.random()], on: subscription.id, expiresAt: 10) }
        #expect(APIError(ReceiptCenter.Refusal.tooManyPending(1)).errno == 161 && APIError(ReceiptCenter.Refusal.tooManySubscriptions(1)).errno == 162)

        let route = BroadcastConfig(name: "fleet", topic: "fleet/all", vapidKeys: [server.publicKey])
        let withRoute = try await TestAPI(store: MemoryStore(), broker: broker, broadcasts: BroadcastTable([route], secret: store.secret))
        let token = withRoute.api.broadcastTable.entries[0].token
        let refused = await withRoute.api.handle(APIRequest(method: .POST, path: "/r/\(token.rawValue)", headers: HTTPHeaders([auth(), ("TTL", "5"), ("Prefer", "respond-async")])))
        #expect(refused.status == .badRequest && String(buffer: refused.body).contains("\"errno\":152"))
        _ = test
    }

    @Test("DELETE /rs/<id> ends it: its stream ends, pushes naming it are 400, GET is 404")
    func deleteSubscription() async throws {
        let test = try await TestAPI(store: store, broker: broker)
        let (endpoint, _) = try await subscribe(test.api)
        let receipts = try await receiptSubscription(test.api)
        let stream = await test.api.handle(APIRequest(method: .GET, path: path(receipts), headers: ["Accept": "text/event-stream"]))
        #expect(await test.api.handle(APIRequest(method: .GET, path: path(receipts))).status == .notAcceptable)
        #expect(await test.api.handle(APIRequest(method: .DELETE, path: path(receipts))).status == .noContent)
        var count = 0
        for await _ in try #require(stream.stream).chunks { count += 1 }
        #expect(count == 1, "the opening comment, then the end")
        #expect(await pushWithReceipt(test.api, endpoint, receipts).status == .badRequest)
        #expect(await test.api.handle(APIRequest(method: .GET, path: path(receipts), headers: ["Accept": "text/event-stream"])).status == .notFound)
    }
}
