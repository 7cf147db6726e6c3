import Foundation
import WebPush

/// A list document (`application/push-aggregation+json`) or a merge patch of one
/// (`application/merge-patch+json`, RFC 7396): a JSON object keyed by member push resource URL.
///
/// In a document every value is an object; in a patch a value may be `null` (remove the member),
/// and so may each field (remove the field). Unknown fields are ignored.
struct ListDocument: Decodable {
    /// One member's value: each field absent (unchanged), `null` (removed) or given.
    struct MemberValue: Decodable {
        enum Field: Equatable {
            case absent, null
            case value(String)
        }

        var expires: Field
        var encryptedKey: Field

        enum CodingKeys: String, CodingKey {
            case expires
            case encryptedKey = "encrypted_key"
        }

        init(from decoder: any Decoder) throws {
            let container: KeyedDecodingContainer<CodingKeys>
            do {
                container = try decoder.container(keyedBy: CodingKeys.self)
            } catch {
                throw ListDocumentError("the value of a member must be an object")
            }
            expires = try Self.field(container, .expires, "\"expires\" must be an RFC 3339 date-time string")
            encryptedKey = try Self.field(container, .encryptedKey, "\"encrypted_key\" must be a base64url string")
        }

        private static func field(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, _ mistake: String) throws -> Field {
            guard container.contains(key) else { return .absent }
            if try container.decodeNil(forKey: key) { return .null }
            guard let text = try? container.decode(String.self, forKey: key) else { throw ListDocumentError(mistake) }
            return .value(text)
        }

        /// `existing` with this value merged in (RFC 7396), every field checked.
        func merged(into existing: PushList.Member?) throws(APIError) -> PushList.Member {
            var member = existing ?? PushList.Member()
            switch expires {
            case .absent: break
            case .null: member.expires = nil
            case .value(let text):
                guard let time = RFC3339.parse(text) else { throw .invalidListDocument("\"expires\" '\(text.prefix(40))' is not an RFC 3339 date-time") }
                member.expires = time
            }
            switch encryptedKey {
            case .absent: break
            case .null: member.encryptedKey = nil
            case .value(let text):
                guard let bytes = try? Base64URL.decode(text), (try? ContentCodingHeader(parsing: bytes)) != nil else {
                    throw .invalidListDocument("\"encrypted_key\" must be base64url of an aes128gcm message (RFC 8291)")
                }
                member.encryptedKey = text
            }
            return member
        }
    }

    /// Member URL → value (`nil`: JSON `null`, a removal in a patch).
    var members: [String: MemberValue?]

    init(from decoder: any Decoder) throws {
        members = try decoder.singleValueContainer().decode([String: MemberValue?].self)
    }

    /// Decodes `bytes`, with every mistake as an ``APIError`` (errno 140).
    static func decode(_ bytes: [UInt8]) throws(APIError) -> ListDocument {
        do {
            return try JSONCoding.decoder.decode(ListDocument.self, from: Data(bytes))
        } catch let error as ListDocumentError {
            throw .invalidListDocument(error.message)
        } catch {
            throw .invalidListDocument("the body must be a JSON object keyed by member push resource URLs")
        }
    }
}

/// A mistake inside a list document, found while decoding it.
struct ListDocumentError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// `GET /l/<id>`: the list document, active members keyed by push resource URL.
struct ListDocumentBody: Encodable {
    struct Member: Encodable {
        var expires: String?
        var encryptedKey: String?

        enum CodingKeys: String, CodingKey {
            case expires
            case encryptedKey = "encrypted_key"
        }
    }

    var members: [String: Member]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(members)
    }
}
