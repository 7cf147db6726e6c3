import Foundation
import MQTTBridge
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

/// The list service through the API, with the real MQTT mapping over a recording broker.
@Suite("Lists (recording broker, no I/O)")
struct ListTests {
    let store = MemoryStore()
    let broker = RecordingPublisher()
    let creator = VAPIDSigningKey.generate()
    let now = TestAPI.now

    func api(_ adjust: (inout ListsConfig) -> Void = { _ in }) async throws -> PushgateAPI {
        try await TestAPI(store: store, broker: broker) { adjust(&$0.lists) }.api
    }

    func vapid(_ key: VAPIDSigningKey? = nil) -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: key ?? creator, now: now))
    }

    func subscribe(_ api: PushgateAPI) async throws -> String {
        let response = await api.handle(APIRequest(method: .POST, path: "/subscribe"))
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])["endpoint"] as! String
    }

    func request(_ method: HTTPMethod, _ path: String, _ headers: [(String, String)], _ json: String = "") -> APIRequest {
        APIRequest(method: method, path: path, headers: HTTPHeaders(headers), body: ByteBuffer(string: json))
    }

    func create(_ api: PushgateAPI, _ json: String) async -> APIResponse {
        await api.handle(request(.POST, "/lists", [vapid(), ("Content-Type", "application/push-aggregation+json")], json))
    }

    func path(_ url: String?) -> String { String(url!.dropFirst("https://push.example.net".count)) }

    @Test("create → read → patch → push: each member's copy carries its encrypted-key; 201 after every copy")
    func lifecycle() async throws {
        let api = try await api()
        let a = try await subscribe(api), b = try await subscribe(api), c = try await subscribe(api)
        let key = Base64URL.encode(try WebPushCrypto.encrypt(Array(repeating: 7, count: 16), for: WebPushReceiverKeys.generate().subscriberKeys))
        let created = await create(api, #"{"\#(a)":{"encrypted_key":"\#(key)"},"\#(b)":{"expires":"2030-01-01T00:00:00Z","x":1}}"#)
        #expect(created.status == .created)
        let location = path(created.headers["Location"].first)
        let push = path(created.headers["Link"].first.map { String($0.dropFirst().prefix { $0 != ">" }) })

        let read = await api.handle(request(.GET, location, [vapid()]))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: read.body)) as? [String: [String: String]])
        #expect(read.headers["Content-Type"] == ["application/push-aggregation+json"])
        #expect(document == [a: ["encrypted_key": key], b: ["expires": "2030-01-01T00:00:00Z"]])

        let patched = await api.handle(request(.PATCH, location, [vapid(), ("Content-Type", "application/merge-patch+json")],
                                               #"{"\#(b)":null,"\#(c)":{},"\#(a)":{"encrypted_key":null}}"#))
        #expect(patched.status == .ok)
        #expect(Set((try JSONSerialization.jsonObject(with: Data(buffer: patched.body)) as! [String: Any]).keys) == [a, c])

        let pushed = await api.handle(request(.POST, push, [vapid(), ("TTL", "60")]))
        #expect(pushed.status == .created && pushed.headers["Pushgate-Recipients"] == ["2"])
        #expect(broker.messages.count == 2)
        #expect(broker.messages.allSatisfy { $0.properties.userProperty("encrypted-key") == nil })
    }

    @Test("each copy of a list push: its member's topic, its own id and acknowledgement topic, the member's key, QoS 1 with the TTL")
    func copies() async throws {
        let api = try await api()
        let members = [try await subscribe(api), try await subscribe(api), try await subscribe(api)]
        let key = Base64URL.encode(try WebPushCrypto.encrypt(Array(repeating: 9, count: 16), for: WebPushReceiverKeys.generate().subscriberKeys))
        let created = await create(api, #"{"\#(members[0])":{"encrypted_key":"\#(key)"},"\#(members[1])":{},"\#(members[2])":{}}"#)
        #expect(created.status == .created)
        let push = path(created.headers["Link"].first.map { String($0.dropFirst().prefix { $0 != ">" }) })
        let body = try WebPushCrypto.encrypt(Array("lights off".utf8), for: WebPushReceiverKeys.generate().subscriberKeys)
        let pushed = await api.handle(APIRequest(method: .POST, path: push, headers: HTTPHeaders([vapid(), ("TTL", "60"), ("Content-Encoding", "aes128gcm")]),
                                                 body: ByteBuffer(bytes: body)))
        #expect(pushed.status == .created)
        let sent = broker.messages
        #expect(sent.count == 3)
        #expect(Set(sent.map(\.topic)).count == 3 && sent.allSatisfy { $0.topic.hasPrefix("webpush/") && $0.topic.hasSuffix("/normal") })
        let ids = sent.compactMap { $0.properties.userProperty("message-id") }
        #expect(Set(ids).count == 3)
        #expect(sent.allSatisfy { $0.properties.correlationData == $0.properties.userProperty("message-id").map { Array($0.utf8) } })
        #expect(!ids.contains { pushed.headers["Location"].first?.hasSuffix($0) == true })
        #expect(Set(sent.compactMap(\.properties.responseTopic)).count == 3)
        #expect(sent.filter { $0.properties.userProperty("encrypted-key") == key }.count == 1)
        #expect(sent.allSatisfy { $0.qos == .atLeastOnce && !$0.retain && $0.properties.messageExpiryInterval == 60 })
        #expect(sent.allSatisfy { $0.properties.userProperty("content-encoding") == "aes128gcm" && Array(buffer: $0.payload) == body })
    }

    @Test("refusals change nothing: foreign members (named), another key (403), wrong media type (415), caps")
    func refusals() async throws {
        let api = try await api { $0.maxMembers = 1; $0.maxListsPerKey = 1 }
        let a = try await subscribe(api), b = try await subscribe(api)
        let foreign = await create(api, #"{"https://elsewhere.example/p/x":{},"\#(a)":{}}"#)
        #expect(foreign.status == .badRequest && String(buffer: foreign.body).contains("\"errno\":141") && String(buffer: foreign.body).contains("elsewhere"))
        #expect(await create(api, #"{"\#(a)":{},"\#(b)":{}}"#).status == .badRequest)
        #expect(await create(api, #"["not", "an", "object"]"#).status == .badRequest)
        #expect(await create(api, #"{"\#(a)":{"expires":"tomorrow"}}"#).status == .badRequest)
        #expect(await create(api, #"{"\#(a)":null}"#).status == .badRequest)
        #expect(await api.handle(request(.POST, "/lists", [vapid(), ("Content-Type", "application/json")], "{}")).status == .unsupportedMediaType)
        let created = await create(api, #"{"\#(a)":{}}"#)
        #expect(created.status == .created)
        #expect(await create(api, #"{"\#(a)":{}}"#).status == .forbidden)  // max_lists_per_key
        let location = path(created.headers["Location"].first)
        #expect(await api.handle(request(.GET, location, [vapid(.generate())])).status == .forbidden)
        #expect(await api.handle(request(.GET, location, [])).status == .unauthorized)
        #expect(store.storedLists.count == 1)
    }

    @Test("a failed copy is a 207 naming its member; the broker down for every copy is a 503")
    func partialFailure() async throws {
        let api = try await api()
        let a = try await subscribe(api)
        let created = await create(api, #"{"\#(a)":{}}"#)
        let push = path(created.headers["Link"].first.map { String($0.dropFirst().prefix { $0 != ">" }) })
        broker.failure = .rejected(reasonCode: 0x87, reason: "Not authorized")
        let rejected = await api.handle(request(.POST, push, [vapid(), ("TTL", "60")]))
        #expect(rejected.status == .multiStatus)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(buffer: rejected.body)) as? [String: Any])
        #expect(report["recipients"] as? Int == 1 && report["delivered"] as? Int == 0)
        #expect(((report["failed"] as? [[String: Any]])?.first?["member"] as? String) == a)
        broker.failure = .brokerUnavailable("down")
        #expect(await api.handle(request(.POST, push, [vapid(), ("TTL", "60")])).status == .serviceUnavailable)
    }

    @Test("the fan-out budget per key: 429 with Retry-After once spent")
    func rateLimit() async throws {
        let api = try await api { $0.maxDeliveriesPerSecondPerKey = 2 }
        let a = try await subscribe(api), b = try await subscribe(api)
        let created = await create(api, #"{"\#(a)":{},"\#(b)":{}}"#)
        let push = path(created.headers["Link"].first.map { String($0.dropFirst().prefix { $0 != ">" }) })
        #expect(await api.handle(request(.POST, push, [vapid(), ("TTL", "60")])).status == .created)
        let limited = await api.handle(request(.POST, push, [vapid(), ("TTL", "60")]))
        #expect(limited.status == .tooManyRequests && limited.headers["Retry-After"] == ["1"])
        #expect(broker.messages.count == 2)
    }
}
