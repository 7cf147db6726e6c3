import Crypto
import Foundation
import Testing
import WebPush

@Suite("RFC test vectors, byte for byte")
struct RFCVectorTests {
    let vectors = TestVectors.shared

    @Test("RFC 8291 Appendix A: every intermediate value")
    func rfc8291Intermediates() throws {
        let v = vectors.rfc8291
        let asPrivate = try P256.KeyAgreement.PrivateKey(rawRepresentation: b64(v.inputs.as_private))
        let uaPrivate = try P256.KeyAgreement.PrivateKey(rawRepresentation: b64(v.inputs.ua_private))
        #expect(Array(asPrivate.publicKey.x963Representation) == b64(v.inputs.as_public))
        #expect(Array(uaPrivate.publicKey.x963Representation) == b64(v.inputs.ua_public))

        let subscriber = try WebPushSubscriberKeys(p256dh: v.inputs.ua_public, auth: v.inputs.auth_secret)
        let sender = try WebPushKeyDerivation(sender: asPrivate, subscriber: subscriber)
        #expect(sender.ecdhSecret == b64(v.intermediates.ecdh_secret))
        #expect(sender.authPseudorandomKey == b64(v.intermediates.prk_key))
        #expect(sender.keyInfo == b64(v.intermediates.key_info))
        #expect(sender.inputKeyingMaterial == b64(v.intermediates.ikm))

        let receiver = try WebPushReceiverKeys(privateKey: v.inputs.ua_private, authSecret: v.inputs.auth_secret)
        let receiverSide = try WebPushKeyDerivation(receiver: receiver, senderPublicKey: asPrivate.publicKey)
        #expect(receiverSide.inputKeyingMaterial == b64(v.intermediates.ikm))

        let keys = ContentEncryptionKeys(inputKeyingMaterial: sender.inputKeyingMaterial, salt: b64(v.inputs.salt))
        #expect(keys.pseudorandomKey == b64(v.intermediates.prk))
        #expect(ContentEncryptionKeys.cekInfo == b64(v.intermediates.cek_info))
        #expect(ContentEncryptionKeys.nonceInfo == b64(v.intermediates.nonce_info))
        #expect(keys.contentEncryptionKey == b64(v.intermediates.cek))
        #expect(keys.baseNonce == b64(v.intermediates.nonce))
    }

    @Test("RFC 8291 §5: encryption reproduces the body, decryption the plaintext")
    func rfc8291Body() throws {
        let v = vectors.rfc8291
        let asPrivate = try P256.KeyAgreement.PrivateKey(rawRepresentation: b64(v.inputs.as_private))
        let subscriber = try WebPushSubscriberKeys(p256dh: v.inputs.ua_public, auth: v.inputs.auth_secret)
        let body = try WebPushCrypto.encrypt(
            b64(v.inputs.plaintext), for: subscriber, senderPrivateKey: asPrivate,
            salt: b64(v.inputs.salt), recordSize: v.inputs.rs
        )
        #expect(body == b64(v.output.body))
        #expect(body.count == v.output.body_length)
        #expect(Array(body.prefix(v.output.header_length)) == b64(v.output.header))
        #expect(Array(body.dropFirst(v.output.header_length)) == b64(v.output.ciphertext))

        let header = try ContentCodingHeader(parsing: body)
        #expect(header.encodedLength == 86)
        #expect(header.recordSize == 4096)
        #expect(header.keyID == b64(v.inputs.as_public))

        let receiver = try WebPushReceiverKeys(privateKey: v.inputs.ua_private, authSecret: v.inputs.auth_secret)
        let plaintext = try WebPushCrypto.decrypt(b64(v.output.body), with: receiver)
        #expect(String(decoding: plaintext, as: UTF8.self) == "When I grow up, I want to be a watermelon")
        #expect(plaintext + [2] == b64(v.output.padded_plaintext))
    }

    @Test("RFC 8188 §3.1: one record, intermediates and body")
    func rfc8188SingleRecord() throws {
        let v = vectors.rfc8188.single_record
        let keys = ContentEncryptionKeys(inputKeyingMaterial: b64(v.ikm), salt: b64(v.salt))
        #expect(keys.pseudorandomKey == b64(v.prk))
        #expect(keys.contentEncryptionKey == b64(v.cek))
        #expect(keys.baseNonce == b64(v.nonce))

        let body = try ContentCoding.encrypt(Array(v.plaintext_utf8.utf8), inputKeyingMaterial: b64(v.ikm), salt: b64(v.salt), recordSize: v.rs)
        #expect(body == b64(v.body))
        #expect(body.count == v.body_length)
        let plaintext = try ContentCoding.decrypt(b64(v.body), inputKeyingMaterial: b64(v.ikm))
        #expect(String(decoding: plaintext, as: UTF8.self) == v.plaintext_utf8)
        #expect(plaintext + [2] == b64(v.unencrypted_data))
    }

    @Test("RFC 8188 §3.2: two records with padding and key id a1")
    func rfc8188MultipleRecords() throws {
        let v = vectors.rfc8188.multiple_records
        let body = b64(v.body)
        #expect(body.count == v.body_length)
        let header = try ContentCodingHeader(parsing: body)
        #expect(header.recordSize == v.rs)
        #expect(header.keyID == Array(v.keyid_utf8.utf8))
        let plaintext = try ContentCoding.decrypt(body, inputKeyingMaterial: b64(v.ikm))
        #expect(String(decoding: plaintext, as: UTF8.self) == v.plaintext_utf8)
        // Cutting off the second record must be detected as truncation.
        #expect(throws: ContentCodingError.missingFinalRecord) {
            try ContentCoding.decrypt(Array(body.prefix(23 + 25)), inputKeyingMaterial: b64(v.ikm))
        }
    }

    @Test("RFC 8292 §2.4: the example token verifies inside its validity window")
    func rfc8292Token() throws {
        let v = vectors.rfc8292
        let verifier = VAPIDVerifier(origin: v.jwt_body.aud, cache: nil)
        let authorization = "vapid t=\(v.t), k=\(v.k)"
        let inside = Date(timeIntervalSince1970: TimeInterval(v.jwt_body.exp - 3600))
        let verified = try verifier.verify(authorization: authorization, now: inside)
        #expect(verified.claims.audiences == [v.jwt_body.aud])
        #expect(verified.claims.expiration == v.jwt_body.exp)
        #expect(verified.claims.subject == v.jwt_body.sub)
        #expect(verified.key == (try VAPIDPublicKey(base64URL: v.k)))
        // Restricted to the same key (RFC 8292 §4.1 Figure 3): accepted.
        _ = try verifier.verify(authorization: authorization, expectedKey: VAPIDPublicKey(base64URL: v.k), now: inside)

        // The window's edges: exp itself is valid, exp - 24 h is valid, outside is not.
        _ = try verifier.verify(authorization: authorization, now: Date(timeIntervalSince1970: TimeInterval(v.jwt_body.exp)))
        _ = try verifier.verify(authorization: authorization, now: Date(timeIntervalSince1970: TimeInterval(v.jwt_body.exp - 86_400)))
        #expect(throws: VAPIDError.expired) {
            try verifier.verify(authorization: authorization, now: Date(timeIntervalSince1970: TimeInterval(v.jwt_body.exp + 1)))
        }
        #expect(throws: VAPIDError.expiryTooFar) {
            try verifier.verify(authorization: authorization, now: Date(timeIntervalSince1970: TimeInterval(v.jwt_body.exp - 86_401)))
        }
        // Today the token is long expired.
        #expect(throws: VAPIDError.expired) { try verifier.verify(authorization: authorization) }
    }
}
