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
    }

    /// The list resource token (`/l/<id>`).
    public let id: String
    /// The list's push resource token (`/lp/<token>`).
    public let pushToken: String
    /// The creator's VAPID key: required for every change and push (abuse control).
    public let creatorKey: VAPIDPublicKey
    /// Members by subscription push token.
    public var members: [String: Member]
    /// Creation time.
    public let createdAt: Int64

    /// Creates a list record.
    public init(id: String, pushToken: String, creatorKey: VAPIDPublicKey, members: [String: Member], createdAt: Int64) {
        self.id = id
        self.pushToken = pushToken
        self.creatorKey = creatorKey
        self.members = members
        self.createdAt = createdAt
    }

    /// Members that have not expired at `now`.
    public func activeMembers(at now: Int64) -> [(token: String, member: Member)] {
        members.compactMap { token, member in
            if let expires = member.expires, expires <= now { return nil }
            return (token, member)
        }
    }
}

/// A change to a list's membership, as the store persists it.
public enum ListChange: Sendable {
    /// Add or update a member.
    case upsert(String, PushList.Member)
    /// Remove a member.
    case remove(String)
}
