import NIOConcurrencyHelpers
import NIOCore
import WebPush

/// The application server keys of the rows one registry load reads, each parsed once.
///
/// Nearly every subscription of an installation is restricted to one of a handful of
/// application servers' keys. Parsed per row, each was a P-256 point validated again and a key
/// object of its own held by every subscription for as long as the process ran (a million
/// restricted subscriptions: ~8 s more to load and ~400 bytes more each, issue 16); through this,
/// the rows of one key share one parsed key. It lives for one load only, so keys nobody uses any
/// more are not kept.
///
/// A stored key that does not parse leaves its row out of the load (the subscription answers
/// 404): loading it without its key would let anyone push to it without VAPID.
final class StoredKeys: Sendable {
    private struct Known {
        /// The key of the previous row: runs of rows with one key are the common case, and
        /// comparing 65 octets is cheaper than hashing them.
        var last: VAPIDPublicKey?
        var byOctets: [[UInt8]: VAPIDPublicKey] = [:]
    }

    private let known = NIOLockedValueBox(Known())

    /// The key a column holds (a 65-octet uncompressed point), or `nil` for anything else.
    func key(_ column: ByteBuffer) -> VAPIDPublicKey? {
        let last = column.withUnsafeReadableBytes { octets in
            known.withLockedValue { known in
                known.last.flatMap { key in key.rawBytes.withUnsafeBytes { $0.elementsEqual(octets) } ? key : nil }
            }
        }
        if let last { return last }
        let octets = Array(column.readableBytesView)
        if let seen = known.withLockedValue({ $0.byOctets[octets] }) {
            known.withLockedValue { $0.last = seen }
            return seen
        }
        guard let key = try? VAPIDPublicKey(rawBytes: octets) else { return nil }
        known.withLockedValue {
            $0.byOctets[octets] = key
            $0.last = key
        }
        return key
    }
}
