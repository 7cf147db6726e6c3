import Foundation
import NIOCore
import WebPush

/// The rules every push request passes before anything is published, whether it goes to a
/// subscription, a list or a broadcast route: headers (RFC 8030 §5.2–5.4), size, the aes128gcm
/// shape (RFC 8188), and VAPID (RFC 8292) where required or presented.
struct PushPolicy: Sendable {
    let settings: ServiceSettings
    let verifier: VAPIDVerifier
    let clock: @Sendable () -> Date
    /// What SIGHUP can change: access rules and the `rate_limits` buckets.
    let rules: ReloadableRules

    /// The rate-limit buckets in force.
    var limits: RateLimiters { rules.limiters }

    /// A request that passed every check.
    struct Validated {
        var ttl: Int
        var urgency: Urgency
        var topic: String?
        var contentEncoding: String?
        /// The verified VAPID key, when the request carried one.
        var vapidKey: VAPIDPublicKey?
        /// When it was accepted, seconds since 1970.
        var acceptedAt: Int64

        /// The message to deliver, with a fresh id.
        func message(body: ByteBuffer, id: MessageID = .random()) -> PushMessage {
            PushMessage(id: id, body: body, ttl: ttl, urgency: urgency, topic: topic, contentEncoding: contentEncoding, acceptedAt: acceptedAt)
        }
    }

    /// Every check of a push request, in the order the requirements give them.
    func validate(_ request: APIRequest, restrictionKey: VAPIDPublicKey?, vapidRequired: Bool = false) throws(APIError) -> Validated {
        let requestedTTL = try PushHeaders.ttl(request.headers)
        let urgency = try PushHeaders.urgency(request.headers)
        let topic = try PushHeaders.topic(request.headers)
        let bodyLength = request.body.readableBytes
        let maxPayloadBytes = rules.maxPayloadBytes
        guard bodyLength <= maxPayloadBytes else { throw .payloadTooLarge(maxPayloadBytes) }
        let coding = try PushHeaders.contentEncoding(request.headers, bodyLength: bodyLength)
        var keyID: [UInt8] = []
        if bodyLength > 0 {
            // E-12: only the header's shape; list messages with a group key id pass too.
            do {
                keyID = try ContentCodingHeader(parsing: request.body.readableBytesView).keyID
            } catch {
                throw .invalidEncoding("the body is not an aes128gcm message: \(error)")
            }
        }
        let key = try checkVAPID(request, restrictionKey: restrictionKey, required: vapidRequired, keyID: keyID)
        // P-24: a longer TTL is shortened, and the applied value echoed.
        return Validated(ttl: min(requestedTTL, rules.maxTTLSeconds), urgency: urgency, topic: topic, contentEncoding: coding,
                         vapidKey: key, acceptedAt: now)
    }

    /// V-05..V-20: required on restricted subscriptions (401 absent / 403 invalid), verified when
    /// present anywhere (V-14), and required everywhere with `access.require_vapid`.
    @discardableResult
    func checkVAPID(_ request: APIRequest, restrictionKey: VAPIDPublicKey?, required: Bool = false, keyID: [UInt8] = []) throws(APIError) -> VAPIDPublicKey? {
        let authorization = request.headers["Authorization"].first
        let hasVAPID = authorization.map(Self.hasVAPIDScheme) ?? false
        let required = required || restrictionKey != nil || rules.requireVAPID
        guard required || hasVAPID else { return nil }
        let verified: VAPIDVerifier.Verified
        if hasVAPID { try limits.admitVAPID(from: request.remoteAddress) }
        do {
            verified = try verifier.verify(authorization: hasVAPID ? authorization : nil, expectedKey: restrictionKey, now: clock())
        } catch .missingCredentials {
            throw .missingVAPID
        } catch {
            limits.vapidFailed(from: request.remoteAddress)
            throw .invalidVAPID(error)
        }
        // V-18: the signing key must not be the message's ECDH key.
        if keyID.count == WebPushCrypto.publicKeyLength, keyID == verified.key.rawBytes { throw .vapidKeyIsECDHKey }
        return verified.key
    }

    /// The verified VAPID key of a request that must carry one (lists, broadcasts).
    func requireVAPIDKey(_ request: APIRequest) throws(APIError) -> VAPIDPublicKey {
        guard let key = try checkVAPID(request, restrictionKey: nil, required: true) else { throw .missingVAPID }
        return key
    }

    /// Whether an `Authorization` value uses the `vapid` scheme (case-insensitive), looking at its
    /// first bytes only: the value is a long token, and this runs on every push.
    static func hasVAPIDScheme(_ authorization: String) -> Bool {
        var bytes = authorization.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.prefix(5).makeIterator()
        for expected in "vapid".utf8 {
            guard let byte = bytes.next(), byte | 0x20 == expected else { return false }
        }
        return true
    }

    /// Seconds since 1970, now.
    var now: Int64 { Int64(clock().timeIntervalSince1970) }
}
