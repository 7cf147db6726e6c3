import Crypto
import Foundation
import MQTTBridge
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

@Suite("API with the real MQTT mapping over a recording broker (no I/O)")
struct APITests {
    let store = MemoryStore()
    let broker = RecordingPublisher()
    let now = TestAPI.now

    func service(_ adjust: (inout ServiceSettings) -> Void = { _ in }) async throws -> (api: PushgateAPI, delivery: MQTTDelivery) {
        let test = try await TestAPI(store: store, broker: broker) { settings in
            settings.maxTTLSeconds = 3600
            adjust(&settings)
        }
        return (test.api, test.delivery)
    }

    func subscribe(_ service: PushgateAPI, vapid: VAPIDPublicKey? = nil) async throws -> (push: String, id: String) {
        var request = APIRequest(method: .POST, path: "/subscribe")
        if let vapid {
            request.headers.add(name: "Content-Type", value: "application/webpush-options+json")
            request.body = ByteBuffer(string: #"{"vapid":"\#(vapid.base64URL)","other":1}"#)
        }
        let response = await service.handle(request)
        #expect(response.status == .created)
        let link = try #require(response.headers["Link"].first)
        let push = link.dropFirst().prefix { $0 != ">" }
        let location = try #require(response.headers["Location"].first)
        return (String(push.split(separator: "/").last!), String(location.split(separator: "/").last!))
    }

    func push(_ service: PushgateAPI, _ token: String, _ headers: [(String, String)], body: [UInt8] = []) async -> APIResponse {
        await service.handle(APIRequest(method: .POST, path: "/p/\(token)", headers: HTTPHeaders(headers), body: ByteBuffer(bytes: body)))
    }

    @Test("a push becomes one MQTT message with the mapped topic, QoS, expiry and properties")
    func mapping() async throws {
        let (service, _) = try await service()
        let (token, _) = try await subscribe(service)
        let device = WebPushReceiverKeys.generate()
        let body = try WebPushCrypto.encrypt(Array("hi".utf8), for: device.subscriberKeys)
        let response = await push(service, token, [("TTL", "7200"), ("Urgency", "low"), ("Content-Encoding", "aes128gcm")], body: body)
        #expect(response.status == .created)
        #expect(response.headers["TTL"] == ["3600"])
        let message = try #require(broker.messages.first)
        #expect(message.topic.hasPrefix("webpush/") && message.topic.hasSuffix("/low") && !message.retain)
        #expect(message.topic.split(separator: "/").count == 4, "prefix / set / subscription / urgency")
        #expect(message.properties.userProperty("accepted-at") == "2027-01-15T08:00:00Z")
        #expect(Array(message.payload.readableBytesView) == body)
        #expect(message.qos == .atLeastOnce)
        #expect(message.properties.messageExpiryInterval == 3600)
        let id = try #require(message.properties.userProperty("message-id"))
        #expect(response.headers["Location"] == ["https://push.example.net/m/\(id)"])
        #expect(message.properties.correlationData == Array(id.utf8))
        #expect(message.properties.userProperty("content-encoding") == "aes128gcm")
        #expect(message.properties.userProperty("topic") == nil)
        #expect(message.properties.responseTopic?.hasPrefix("webpush/ack/") == true)
    }

    @Test("TTL 0 is QoS 0 without expiry")
    func ttlZero() async throws {
        let (service, _) = try await service()
        let (token, _) = try await subscribe(service)
        #expect(await push(service, token, [("TTL", "0")]).status == .created)
        #expect(broker.messages.first?.qos == .atMostOnce)
        #expect(broker.messages.first?.properties.messageExpiryInterval == nil)
    }

    @Test("broker failures map to 503 (+Retry-After) or 502, and nothing is claimed")
    func brokerFailures() async throws {
        let (service, _) = try await service()
        let (token, _) = try await subscribe(service)
        for (failure, status, errno) in [(MQTTBridgeError.brokerUnavailable("down"), HTTPResponseStatus.serviceUnavailable, 130),
                                         (.connectionLost, .serviceUnavailable, 131),
                                         (.rejected(reasonCode: 0x87, reason: "Not authorized"), .badGateway, 132)] {
            broker.failure = failure
            let response = await push(service, token, [("TTL", "5")])
            #expect(response.status == status)
            #expect(String(buffer: response.body).contains("\"errno\":\(errno)"))
            if status == .serviceUnavailable { #expect(response.headers["Retry-After"] == ["5"]) }
        }
        broker.failure = .packetTooLarge
        let tooLarge = await push(service, token, [("TTL", "5")])
        #expect(tooLarge.status == .payloadTooLarge)
        #expect(String(buffer: tooLarge.body).contains("\"errno\":124") && String(buffer: tooLarge.body).contains("maximum packet size"))
        broker.failure = nil
        #expect(await service.handle(APIRequest(method: .GET, path: "/readyz")).status == .ok)
        // Connected, but nothing acknowledged for longer than the publish timeout: not ready.
        broker.isStalled = true
        let stalled = await service.handle(APIRequest(method: .GET, path: "/readyz"))
        #expect(stalled.status == .serviceUnavailable && String(buffer: stalled.body).contains("stopped acknowledging"))
    }

    @Test("a failed registry write answers 503 and indexes nothing")
    func storeFailure() async throws {
        let (service, _) = try await service()
        store.failWrites = true
        let response = await service.handle(APIRequest(method: .POST, path: "/subscribe"))
        #expect(response.status == .serviceUnavailable)
        #expect(service.registry.count == 0)
    }

    @Test("restricted: missing 401 + challenge, wrong key 403, right key 201; VAPID k = ECDH key is 400")
    func restricted() async throws {
        let (service, _) = try await service()
        let key = VAPIDSigningKey.generate()
        let (token, _) = try await subscribe(service, vapid: key.publicKey)
        let missing = await push(service, token, [("TTL", "1")])
        #expect(missing.status == .unauthorized && missing.headers["WWW-Authenticate"] == ["vapid"])
        let other = VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: .generate(), now: now)
        #expect(await push(service, token, [("TTL", "1"), ("Authorization", other)]).status == .forbidden)
        let right = VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: key, now: now)
        #expect(await push(service, token, [("TTL", "1"), ("Authorization", right)]).status == .created)

        // V-18: the message's key id equal to k.
        let ecdh = try P256.KeyAgreement.PrivateKey(rawRepresentation: key.privateKey.rawRepresentation)
        let body = try WebPushCrypto.encrypt([1], for: WebPushReceiverKeys.generate().subscriberKeys, senderPrivateKey: ecdh, salt: WebPushCrypto.randomSalt())
        let same = await push(service, token, [("TTL", "1"), ("Authorization", right), ("Content-Encoding", "aes128gcm")], body: body)
        #expect(same.status == .badRequest && String(buffer: same.body).contains("\"errno\":107"))
        #expect(broker.messages.count == 1)
    }

    @Test("require_vapid refuses anonymous pushes to any subscription")
    func requireVAPID() async throws {
        let (service, _) = try await service { $0.requireVAPID = true }
        let (token, _) = try await subscribe(service)
        #expect(await push(service, token, [("TTL", "1")]).status == .unauthorized)
        let signed = VAPIDToken.authorization(audience: "https://push.example.net", subject: nil, key: .generate(), now: now)
        #expect(await push(service, token, [("TTL", "1"), ("Authorization", signed)]).status == .created)
    }

    @Test("delete: 204, then pushes 410, delete again 404; survives a reload from the store")
    func delete() async throws {
        let (service, _) = try await service()
        let (token, id) = try await subscribe(service)
        #expect(await service.handle(APIRequest(method: .DELETE, path: "/s/\(id)")).status == .noContent)
        #expect(await push(service, token, [("TTL", "1")]).status == .gone)
        #expect(await service.handle(APIRequest(method: .DELETE, path: "/s/\(id)")).status == .notFound)
        let (reloaded, _) = try await self.service()
        #expect(await push(reloaded, token, [("TTL", "1")]).status == .gone)
        #expect(broker.messages.isEmpty)
    }
}
