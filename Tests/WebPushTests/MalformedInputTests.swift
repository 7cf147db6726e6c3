import Crypto
import Foundation
import Testing
import WebPush

/// Malformed inputs, each rejected with its specific error and without a crash.
@Suite("Malformed inputs")
struct MalformedInputTests {
    // MARK: base64url

    static let badBase64: [(String, Base64URLError)] = [
        ("ab+c", .invalidCharacter(offset: 2)),
        ("ab/c", .invalidCharacter(offset: 2)),
        ("a b", .invalidCharacter(offset: 1)),
        ("é", .invalidCharacter(offset: 0)),
        ("a", .invalidLength(1)),
        ("abcde", .invalidLength(5)),
        ("ab===", .invalidPadding),
        ("abc==", .invalidPadding),
        ("ab=c", .invalidCharacter(offset: 2)),
        ("AB", .nonZeroTrailingBits),
    ]

    @Test("base64url rejects", arguments: badBase64)
    func base64(input: String, error: Base64URLError) {
        #expect(throws: error) { try Base64URL.decode(input) }
    }

    // MARK: RFC 8188 headers and bodies

    static let salt = [UInt8](repeating: 0xAA, count: 16)
    static func header(rs: UInt32, idlen: UInt8, keyid: [UInt8] = []) -> [UInt8] {
        salt + [UInt8(rs >> 24), UInt8(rs >> 16 & 0xFF), UInt8(rs >> 8 & 0xFF), UInt8(rs & 0xFF), idlen] + keyid
    }

    static let badHeaders: [([UInt8], ContentCodingError)] = [
        ([], .truncatedHeader(length: 0)),
        (Array(repeating: 0, count: 20), .truncatedHeader(length: 20)),
        (header(rs: 4096, idlen: 1), .keyIDExceedsBody(idlen: 1, available: 0)),
        (header(rs: 4096, idlen: 65, keyid: [4]), .keyIDExceedsBody(idlen: 65, available: 1)),
        (header(rs: 4096, idlen: 255), .keyIDExceedsBody(idlen: 255, available: 0)),
        (header(rs: 17, idlen: 0), .recordSizeTooSmall(17)),
        (header(rs: 0, idlen: 0), .recordSizeTooSmall(0)),
    ]

    @Test("header parsing rejects", arguments: badHeaders)
    func headers(body: [UInt8], error: ContentCodingError) {
        #expect(throws: error) { try ContentCodingHeader(parsing: body) }
    }

    @Test("header construction validates its fields")
    func headerFields() {
        #expect(throws: ContentCodingError.invalidSaltLength(15)) { try ContentCodingHeader(salt: Array(repeating: 0, count: 15), recordSize: 4096) }
        #expect(throws: ContentCodingError.recordSizeTooSmall(10)) { try ContentCodingHeader(salt: Self.salt, recordSize: 10) }
        #expect(throws: ContentCodingError.keyIDTooLong(256)) { try ContentCodingHeader(salt: Self.salt, recordSize: 4096, keyID: Array(repeating: 1, count: 256)) }
        #expect(throws: ContentCodingError.invalidPadding(-1)) { try ContentCoding.encrypt([], inputKeyingMaterial: [1], salt: Self.salt, paddingLength: -1) }
    }

    @Test("decryption detects tampering, truncation and bad delimiters")
    func bodies() throws {
        let ikm = Array(repeating: UInt8(5), count: 16)
        let body = try ContentCoding.encrypt(Array("hello, world".utf8), inputKeyingMaterial: ikm, salt: Self.salt)
        var flipped = body
        flipped[flipped.count - 1] ^= 1
        #expect(throws: ContentCodingError.authenticationFailed(index: 0)) { try ContentCoding.decrypt(flipped, inputKeyingMaterial: ikm) }
        #expect(throws: ContentCodingError.authenticationFailed(index: 0)) { try ContentCoding.decrypt(body, inputKeyingMaterial: Array(repeating: 6, count: 16)) }
        #expect(throws: ContentCodingError.truncatedRecord(index: 0)) { try ContentCoding.decrypt(Array(body.prefix(21 + 16)), inputKeyingMaterial: ikm) }
        #expect(throws: ContentCodingError.missingFinalRecord) { try ContentCoding.decrypt(Array(body.prefix(21)), inputKeyingMaterial: ikm) }
        // Two records where the first is marked last.
        let multi = try ContentCoding.encrypt(Array(repeating: 1, count: 10), inputKeyingMaterial: ikm, salt: Self.salt, recordSize: 18)
        #expect(throws: ContentCodingError.missingFinalRecord) { try ContentCoding.decrypt(Array(multi.prefix(21 + 18 * 3)), inputKeyingMaterial: ikm) }
        // A record of all zeros (no delimiter) and one with delimiter 0x03, sealed with the right key.
        #expect(throws: ContentCodingError.missingDelimiter(index: 0)) { try ContentCoding.decrypt(Self.sealRaw([0, 0, 0], ikm: ikm), inputKeyingMaterial: ikm) }
        #expect(throws: ContentCodingError.invalidDelimiter(index: 0, value: 3)) { try ContentCoding.decrypt(Self.sealRaw([65, 3, 0], ikm: ikm), inputKeyingMaterial: ikm) }
        // A final record followed by another record.
        let final = Self.sealRaw([65, 2], ikm: ikm, recordSize: 18)
        let extra = try ContentCoding.encrypt([66], inputKeyingMaterial: ikm, salt: Self.salt, recordSize: 18)
        #expect(throws: ContentCodingError.dataAfterFinalRecord) { try ContentCoding.decrypt(final + extra.dropFirst(21), inputKeyingMaterial: ikm) }
    }

    /// A one-record body whose record plaintext (delimiter and padding included) is given as is.
    static func sealRaw(_ record: [UInt8], ikm: [UInt8], recordSize: UInt32 = 4096) -> [UInt8] {
        let keys = ContentEncryptionKeys(inputKeyingMaterial: ikm, salt: salt)
        let box = try! AES.GCM.seal(record, using: SymmetricKey(data: keys.contentEncryptionKey), nonce: AES.GCM.Nonce(data: keys.baseNonce))
        return try! ContentCodingHeader(salt: salt, recordSize: recordSize).encoded() + Array(box.ciphertext) + Array(box.tag)
    }

    // MARK: RFC 8291 keys

    @Test("subscription keys are validated")
    func subscriptionKeys() {
        let good = WebPushReceiverKeys.generate().subscriberKeys
        #expect(throws: WebPushCryptoError.invalidPublicKey) { try WebPushSubscriberKeys(p256dh: "BAAA", auth: good.auth) }
        #expect(throws: WebPushCryptoError.invalidPublicKey) { try WebPushSubscriberKeys(p256dh: "not+base64", auth: good.auth) }
        // 65 octets with the right prefix, but not a point on the curve.
        #expect(throws: WebPushCryptoError.invalidPublicKey) { try WebPushSubscriberKeys(p256dh: Base64URL.encode([4] + Array(repeating: 1, count: 64)), auth: good.auth) }
        // A compressed point.
        #expect(throws: WebPushCryptoError.invalidPublicKey) { try WebPushSubscriberKeys(p256dh: Base64URL.encode(good.publicKey.compressedRepresentation), auth: good.auth) }
        #expect(throws: WebPushCryptoError.invalidAuthSecret(length: 12)) { try WebPushSubscriberKeys(p256dh: good.p256dh, auth: Base64URL.encode(Array(repeating: 1, count: 12))) }
        #expect(throws: WebPushCryptoError.invalidAuthSecret(length: -1)) { try WebPushSubscriberKeys(p256dh: good.p256dh, auth: "%%") }
    }

    @Test("a Web Push body whose key id is not a P-256 point is refused")
    func badKeyID() throws {
        let device = WebPushReceiverKeys.generate()
        let body = try ContentCoding.encrypt([1, 2, 3], inputKeyingMaterial: [1], salt: Self.salt, keyID: Array("a1".utf8))
        #expect(throws: WebPushCryptoError.invalidKeyID) { try WebPushCrypto.decrypt(body, with: device) }
        #expect(throws: WebPushCryptoError.contentCoding(.truncatedHeader(length: 3))) { try WebPushCrypto.decrypt([1, 2, 3], with: device) }
    }

    // MARK: VAPID

    static let origin = "https://push.example.net"
    static let signer = VAPIDSigningKey.generate()

    /// A JWS over arbitrary header and payload JSON, signed by `signer`.
    static func jws(header: String = #"{"typ":"JWT","alg":"ES256"}"#, payload: String) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let signature = try! signer.privateKey.signature(for: Array(input.utf8))
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }

    static func authorization(_ token: String) -> String { "vapid t=\(token), k=\(signer.publicKey.base64URL)" }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let exp = 1_800_000_000 + 3600
    static let goodToken = jws(payload: #"{"aud":"https://push.example.net","exp":\#(exp)}"#)

    static let badAuthorizations: [(String?, VAPIDError)] = [
        (nil, .missingCredentials),
        ("", .missingCredentials),
        ("Bearer abc", .missingCredentials),
        ("WebPush \(goodToken)", .missingCredentials),
        ("vapid", .missingToken),
        ("vapid k=\(signer.publicKey.base64URL)", .missingToken),
        ("vapid t=\(goodToken)", .missingKey),
        ("vapid t=\(goodToken), k=", .missingKey),
        ("vapid t=\(goodToken), t=\(goodToken), k=\(signer.publicKey.base64URL)", .malformedAuthorization),
        ("vapid t=\(goodToken), garbage, k=\(signer.publicKey.base64URL)", .malformedAuthorization),
        ("vapid t=\(goodToken), k=BAAA", .invalidKey),
        ("vapid t=\(goodToken), k=\(Base64URL.encode([4] + Array(repeating: 7, count: 64)))", .invalidKey),
        (authorization("abc"), .malformedToken("expected 3 dot-separated parts, got 1")),
        (authorization("a.b.c.d"), .malformedToken("expected 3 dot-separated parts, got 4")),
        (authorization("!!.e30.AA"), .malformedToken("a part is not base64url")),
        (authorization(Base64URL.encode(Array("[]".utf8)) + ".e30.AA"), .malformedToken("header is not a JSON object with alg")),
        (authorization(jws(header: #"{"alg":"none"}"#, payload: "{}")), .unsupportedAlgorithm("none")),
        (authorization(jws(header: #"{"alg":"HS256"}"#, payload: "{}")), .unsupportedAlgorithm("HS256")),
        (authorization(goodToken.split(separator: ".").prefix(2).joined(separator: ".") + "." + Base64URL.encode(Array(repeating: 1, count: 61))), .malformedToken("ES256 signature must be 64 octets, got 61")),
        (authorization(jws(payload: #"{"aud":"https://push.example.net"}"#)), .missingExpiry),
        (authorization(jws(payload: #"{"aud":"https://push.example.net","exp":"soon"}"#)), .missingExpiry),
        (authorization(jws(payload: "[1,2]")), .malformedToken("payload is not a JSON object of claims")),
        (authorization(jws(payload: #"{"aud":"https://push.example.net","exp":1799999999}"#)), .expired),
        (authorization(jws(payload: #"{"aud":"https://push.example.net","exp":1800090000}"#)), .expiryTooFar),
        (authorization(jws(payload: #"{"aud":"https://evil.example","exp":\#(exp)}"#)), .audienceMismatch),
        (authorization(jws(payload: #"{"aud":"https://push.example.net/path/x","exp":\#(exp)}"#)), .audienceMismatch),
        (authorization(jws(payload: #"{"exp":\#(exp)}"#)), .audienceMismatch),
        ("vapid t=\(goodToken), k=\(VAPIDSigningKey.generate().publicKey.base64URL)", .invalidSignature),
        (authorization(goodToken.replacingOccurrences(of: ".", with: ".e", options: [], range: goodToken.range(of: "."))), .malformedToken("a part is not base64url")),
    ]

    @Test("VAPID verification rejects", arguments: badAuthorizations)
    func vapid(authorization: String?, error: VAPIDError) {
        let verifier = VAPIDVerifier(origin: Self.origin, cache: VAPIDVerificationCache())
        #expect(throws: error) { try verifier.verify(authorization: authorization, now: Self.now) }
    }

    @Test("the good token, quoted or with extra parameters, verifies; a tampered payload does not")
    func vapidAccepted() throws {
        let verifier = VAPIDVerifier(origin: Self.origin, cache: nil)
        _ = try verifier.verify(authorization: Self.authorization(Self.goodToken), now: Self.now)
        _ = try verifier.verify(authorization: #"VAPID realm="x", t="\#(Self.goodToken)",k=\#(Self.signer.publicKey.base64URL)"#, now: Self.now)
        _ = try verifier.verify(authorization: Self.authorization(Self.jws(payload: #"{"aud":["https://a.example","https://push.example.net"],"exp":\#(Self.exp).0,"extra":true}"#)), now: Self.now)
        let parts = Self.goodToken.split(separator: ".")
        let forged = "\(parts[0]).\(Base64URL.encode(Array(#"{"aud":"https://push.example.net","exp":\#(Self.exp + 60)}"#.utf8))).\(parts[2])"
        #expect(throws: VAPIDError.invalidSignature) { try verifier.verify(authorization: Self.authorization(forged), now: Self.now) }
        #expect(VAPIDError.missingCredentials.httpStatus == 401 && VAPIDError.invalidSignature.httpStatus == 403)
    }

    @Test("private keys in unknown forms are refused")
    func privateKeys() {
        for bad in ["", "abc", Base64URL.encode(Array(repeating: 0, count: 32)), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"] {
            #expect(throws: VAPIDError.invalidPrivateKey) { try VAPIDSigningKey(string: bad) }
        }
    }
}
