public import WebPush

/// A multi-device list (draft-thomson-webpush-aggregate): one push resource that fans out to
/// many subscriptions of this service.
public struct PushList: Hashable, Sendable {
    /// One member: a subscription, with when it leaves the list and its wrapped group key.
    public struct Member: Hashable, Sendable {
        /// Seconds since 1970 after which the member is dropped (the draft's MUST), or `nil`.
        public var expires: Int64?
        /// The group content key wrapped for this member (RFC 8291), base64url, forwarded as the
        /// MQTT 5 user property `encrypted-key`.
        public var encryptedKey: String?

        /// Creates a member entry.
        public init(expires: Int64? = nil, encryptedKey: String? = nil) {
            self.expires = expires
            self.encryptedKey = encryptedKey
        }

        /// Whether the member has left the list by `now`.
        public func isExpired(at now: Int64) -> Bool { expires.map { $0 <= now } ?? false }
    }

    /// The list resource (`/l/<id>`).
    public let id: ListID
    /// The list's push resource (`/lp/<token>`).
    public let pushToken: ListPushToken
    /// The creator's VAPID key: required for every change and push (abuse control).
    public let creatorKey: VAPIDPublicKey
    /// Members by their subscription's push token.
    public var members: [PushToken: Member]
    /// Creation time.
    public let createdAt: Int64

    /// Creates a list record.
    public init(id: ListID, pushToken: ListPushToken, creatorKey: VAPIDPublicKey, members: [PushToken: Member], createdAt: Int64) {
        self.id = id
        self.pushToken = pushToken
        self.creatorKey = creatorKey
        self.members = members
        self.createdAt = createdAt
    }

    /// Members that have not expired at `now`.
    public func activeMembers(at now: Int64) -> [(token: PushToken, member: Member)] {
        members.compactMap { token, member in member.isExpired(at: now) ? nil : (token, member) }
    }

    /// The membership changes that turn `self` into `other` (what the store persists).
    public func changes(to other: PushList) -> [ListChange] {
        var changes: [ListChange] = members.keys.filter { other.members[$0] == nil }.map { .remove($0) }
        for (token, member) in other.members where members[token] != member { changes.append(.upsert(token, member)) }
        return changes
    }
}

/// A change to a list's membership, as the store persists it.
public enum ListChange: Hashable, Sendable {
    /// Add or update a member.
    case upsert(PushToken, PushList.Member)
    /// Remove a member.
    case remove(PushToken)
}
