import NIOConcurrencyHelpers
import NIOCore
import WebPush

/// The application server keys of the rows one registry load reads, each parsed once.
///
/// Nearly every subscription of an installation is restricted to one of a handful of
/// application servers' keys. Parsed per row, each was a P-256 point validated again and a key
/// object of its own held by every subscription for as long as the process ran; through this,
/// the rows of one key share one parsed key. It lives for one load only, so keys nobody uses
/// any more are not kept.
final class StoredKeys: Sendable {
    private let keys = NIOLockedValueBox<[[UInt8]: VAPIDPublicKey]>([:])

    /// The key a column holds (a 65-octet uncompressed point), or `nil` for anything else.
    func key(_ column: ByteBuffer) -> VAPIDPublicKey? {
        let octets = Array(column.readableBytesView)
        if let known = keys.withLockedValue({ $0[octets] }) { return known }
        guard let key = try? VAPIDPublicKey(rawBytes: octets) else { return nil }
        keys.withLockedValue { $0[octets] = key }
        return key
    }
}
