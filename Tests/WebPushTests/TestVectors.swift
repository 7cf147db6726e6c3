import Foundation
import WebPush

/// The RFC 8291 / 8188 / 8292 example values, checked in as data (Vectors/rfc-test-vectors.json,
/// copied from the project's shared spec).
struct TestVectors: Decodable {
    struct RFC8291: Decodable {
        struct Inputs: Decodable {
            var plaintext, as_public, as_private, ua_public, ua_private, salt, auth_secret: String
            var rs: UInt32
        }
        struct Intermediates: Decodable {
            var ecdh_secret, prk_key, key_info, ikm, prk, cek_info, cek, nonce_info, nonce: String
        }
        struct Output: Decodable {
            var header: String
            var header_length: Int
            var padded_plaintext, ciphertext, body: String
            var body_length: Int
        }
        var inputs: Inputs
        var intermediates: Intermediates
        var output: Output
    }
    struct RFC8188: Decodable {
        struct SingleRecord: Decodable {
            var plaintext_utf8, ikm, body, salt, prk, cek, nonce, unencrypted_data: String
            var rs: UInt32
            var body_length: Int
        }
        struct MultipleRecords: Decodable {
            var plaintext_utf8, ikm, keyid_utf8, body: String
            var rs: UInt32
            var body_length: Int
        }
        var single_record: SingleRecord
        var multiple_records: MultipleRecords
    }
    struct RFC8292: Decodable {
        struct JWTBody: Decodable {
            var aud: String
            var exp: Int64
            var sub: String
        }
        var t, k: String
        var jwt_body: JWTBody
    }
    var rfc8291: RFC8291
    var rfc8188: RFC8188
    var rfc8292: RFC8292

    static let shared: TestVectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Vectors/rfc-test-vectors.json")
        return try! JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: url))
    }()
}

/// Base64url-decodes a vector value; vectors are known good.
func b64(_ string: String) -> [UInt8] { try! Base64URL.decode(string) }
