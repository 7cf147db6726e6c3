import Crypto
import Foundation
import Testing
import WebPush

@Suite("Round trips")
struct RoundTripTests {
    @Test("base64url round-trips every length and tolerates padding")
    func base64URL() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(try Base64URL.decode(encoded) == bytes)
            let padded = encoded + String(repeating: "=", count: (4 - encoded.count % 4) % 4)
            #expect(try Base64URL.decode(padded) == bytes)
        }
        #expect(Base64URL.encode(Array("I am the walrus".utf8)) == "SSBhbSB0aGUgd2FscnVz")
    }

    @Test("RFC 8291 encrypt then decrypt, with padding, up to the 4096-octet limit")
    func webPush() throws {
        let device = WebPushReceiverKeys.generate()
        for (length, padding) in [(0, 0), (1, 0), (41, 100), (1000, 0), (3993, 0), (3000, 993)] {
            let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let body = try WebPushCrypto.encrypt(plaintext, for: device.subscriberKeys, paddingLength: padding)
            #expect(body.count == 86 + length + padding + 17)
            #expect(try WebPushCrypto.decrypt(body, with: device) == plaintext)
        }
        // 3993 octets of plaintext is the most a 4096-octet body carries.
        #expect(try WebPushCrypto.encrypt(Array(repeating: 7, count: 3993), for: device.subscriberKeys).count == 4096)
        // One record of rs 4096 holds 4079 octets of plaintext (the body is then 86 octets longer).
        #expect(try WebPushCrypto.encrypt(Array(repeating: 7, count: 4079), for: device.subscriberKeys).count == 86 + 4096)
        #expect(throws: WebPushCryptoError.contentCoding(.contentTooLarge(needed: 4080 + 17, limit: 4096))) {
            try WebPushCrypto.encrypt(Array(repeating: 7, count: 4080), for: device.subscriberKeys)
        }
    }

    @Test("two encryptions of one message differ (fresh key and salt each time)")
    func freshness() throws {
        let device = WebPushReceiverKeys.generate()
        let one = try WebPushCrypto.encrypt(Array("hi".utf8), for: device.subscriberKeys)
        let two = try WebPushCrypto.encrypt(Array("hi".utf8), for: device.subscriberKeys)
        #expect(one != two)
        #expect(one.prefix(16) != two.prefix(16))
    }

    @Test("RFC 8188 multi-record round trips at many record sizes and paddings", arguments: [18, 19, 25, 64, 100, 4096])
    func multiRecord(recordSize: Int) throws {
        let ikm = Array(repeating: UInt8(9), count: 16)
        let salt = WebPushCrypto.randomSalt()
        for length in [0, 1, 7, 50, 333] {
            for padding in [0, 1, 30] {
                let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
                let body = try ContentCoding.encrypt(plaintext, inputKeyingMaterial: ikm, salt: salt, recordSize: UInt32(recordSize), keyID: [1, 2, 3], paddingLength: padding)
                let header = try ContentCodingHeader(parsing: body)
                #expect(header.keyID == [1, 2, 3])
                // Every record but the last is exactly rs octets.
                let recordsLength = body.count - header.encodedLength
                let capacity = recordSize - 17
                let records = max(1, (length + padding + capacity - 1) / capacity)
                #expect(recordsLength == length + padding + records * 17)
                #expect(try ContentCoding.decrypt(body, inputKeyingMaterial: ikm) == plaintext)
            }
        }
    }

    @Test("VAPID sign → verify, and the cache answers a reused token without ECDSA")
    func vapid() throws {
        let key = VAPIDSigningKey.generate()
        let cache = VAPIDVerificationCache(capacity: 8)
        let verifier = VAPIDVerifier(origin: "https://push.example.net:443/", cache: cache)
        let now = Date()
        let header = VAPIDToken.authorization(audience: "https://push.example.net", subject: "mailto:ops@example.com", key: key, now: now)
        let first = try verifier.verify(authorization: header, expectedKey: key.publicKey, now: now)
        #expect(!first.fromCache)
        #expect(first.claims.subject == "mailto:ops@example.com")
        let second = try verifier.verify(authorization: header, expectedKey: key.publicKey, now: now)
        #expect(second.fromCache)
        #expect(cache.statistics.count == 1 && cache.statistics.hits == 1)
        // A cached token is still checked against time, audience and key on every use.
        #expect(throws: VAPIDError.expired) { try verifier.verify(authorization: header, now: now.addingTimeInterval(13 * 3600)) }
        #expect(throws: VAPIDError.keyMismatch) { try verifier.verify(authorization: header, expectedKey: VAPIDSigningKey.generate().publicKey, now: now) }
        let elsewhere = VAPIDVerifier(origin: "https://other.example", cache: cache)
        #expect(throws: VAPIDError.audienceMismatch) { try elsewhere.verify(authorization: header, now: now) }
    }

    @Test("the verification cache stays within its capacity")
    func cacheBound() throws {
        let cache = VAPIDVerificationCache(capacity: 3)
        let verifier = VAPIDVerifier(origin: "http://127.0.0.1:8080", cache: cache)
        let now = Date()
        for _ in 0..<10 {
            let header = VAPIDToken.authorization(audience: "http://127.0.0.1:8080", subject: nil, key: .generate(), now: now)
            _ = try verifier.verify(authorization: header, now: now)
            #expect(cache.statistics.count <= 3)
        }
        #expect(cache.statistics.count == 3)
    }

    @Test("VAPID keys parse from raw base64url, DER and PEM")
    func vapidKeyForms() throws {
        let key = VAPIDSigningKey.generate()
        let fromRaw = try VAPIDSigningKey(string: key.base64URLRawPrivateKey)
        let fromPEM = try VAPIDSigningKey(string: key.pemPrivateKey)
        let fromDER = try VAPIDSigningKey(string: Base64URL.encode(key.privateKey.derRepresentation))
        #expect(fromRaw.publicKey == key.publicKey)
        #expect(fromPEM.publicKey == key.publicKey)
        #expect(fromDER.publicKey == key.publicKey)
        #expect(try VAPIDPublicKey(base64URL: key.publicKey.base64URL) == key.publicKey)
    }

    @Test("group key: wrapped per member, unwrapped on the device, decrypts the list message")
    func groupKey() throws {
        let devices = (0..<3).map { _ in WebPushReceiverKeys.generate() }
        let group = GroupKey.generate()
        let wrapped = try devices.map { try group.wrapped(for: $0.subscriberKeys) }
        #expect(Set(wrapped).count == 3)
        let message = try group.encrypt(Array("lights off at 22:00".utf8), paddingLength: 5)
        #expect(try ContentCodingHeader(parsing: message).keyID == group.identifier)
        for (device, encryptedKey) in zip(devices, wrapped) {
            let unwrapped = try GroupKey.unwrap(encryptedKey, with: device)
            #expect(unwrapped == group)
            #expect(String(decoding: try unwrapped.decrypt(message), as: UTF8.self) == "lights off at 22:00")
        }
        // Another device's key does not unwrap it.
        #expect(throws: WebPushCryptoError.contentCoding(.authenticationFailed(index: 0))) {
            try GroupKey.unwrap(wrapped[0], with: devices[1])
        }
    }
}
