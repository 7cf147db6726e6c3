import WebPush

/// The in-memory index of the registry: every lookup of the push path is a dictionary read here.
///
/// A plain value with no locking and no I/O: ``Registry`` owns one behind a lock and changes it
/// only after the store has the change. It keeps the relations both ways (list → members,
/// member → lists) so that deleting a subscription can leave every list it was in.
struct RegistryIndex: Sendable {
    private(set) var subscriptionsByPushToken: [PushToken: Subscription] = [:]
    /// Subscription id → push token: the record itself is kept once (a second copy of every
    /// ~110-byte record cost ~150 bytes per subscription at 10 million, issue 16).
    private(set) var pushTokensByID: [SubscriptionID: PushToken] = [:]
    /// Deleted subscriptions' push tokens, with when (purged after `storage.deleted_retention_days`).
    private(set) var deletedPushTokens: [PushToken: Int64] = [:]
    private(set) var sets: [SetID: SubscriptionSet] = [:]
    private(set) var setsByTopicID: [TopicID: SetID] = [:]
    /// set → its live members.
    private(set) var setMembers: [SetID: SetMembers] = [:]
    private(set) var lists: [ListID: PushList] = [:]
    private(set) var listIDsByPushToken: [ListPushToken: ListID] = [:]
    /// member push token → ids of the lists it is in.
    private(set) var listIDsByMember: [PushToken: Set<ListID>] = [:]

    init() {}

    /// The index of a loaded snapshot.
    init(_ snapshot: RegistrySnapshot) {
        subscriptionsByPushToken.reserveCapacity(snapshot.subscriptions.count)
        pushTokensByID.reserveCapacity(snapshot.subscriptions.count)
        sets.reserveCapacity(snapshot.sets.count)
        setsByTopicID.reserveCapacity(snapshot.sets.count)
        setMembers.reserveCapacity(snapshot.sets.count)
        for set in snapshot.sets { insert(set) }
        for subscription in snapshot.subscriptions { insert(subscription) }
        deletedPushTokens = snapshot.deletedPushTokens
        for list in snapshot.lists { insert(list) }
    }

    // MARK: Subscriptions

    mutating func insert(_ subscription: Subscription) {
        subscriptionsByPushToken[subscription.pushToken] = subscription
        pushTokensByID[subscription.id] = subscription.pushToken
        if let set = subscription.set {
            if sets[set.id] == nil { insert(set) }
            setMembers[set.id].insert(subscription.id)
        }
    }

    /// Forgets a subscription, remembers its push token as deleted (410) since `time`, and removes
    /// it from every list and its set.
    mutating func delete(_ subscription: Subscription, at time: Int64) {
        pushTokensByID[subscription.id] = nil
        subscriptionsByPushToken[subscription.pushToken] = nil
        deletedPushTokens[subscription.pushToken] = time
        if let set = subscription.set { setMembers[set.id] = setMembers[set.id]?.removing(subscription.id) }
        for listID in listIDsByMember.removeValue(forKey: subscription.pushToken) ?? [] {
            lists[listID]?.members[subscription.pushToken] = nil
        }
    }

    /// Forgets the tombstones of subscriptions deleted before `time`.
    mutating func purgeDeleted(before time: Int64) {
        deletedPushTokens = deletedPushTokens.filter { $0.value >= time }
    }

    /// The live subscription with this subscription-resource id.
    func subscription(id: SubscriptionID) -> Subscription? {
        pushTokensByID[id].flatMap { subscriptionsByPushToken[$0] }
    }

    /// Live subscriptions.
    var subscriptionCount: Int { subscriptionsByPushToken.count }

    // MARK: Sets

    mutating func insert(_ set: SubscriptionSet) {
        sets[set.id] = set
        setsByTopicID[set.topicID] = set.id
    }

    /// Deletes a set and every member; returns the members.
    mutating func deleteSet(id: SetID, at time: Int64) -> [Subscription] {
        guard let set = sets.removeValue(forKey: id) else { return [] }
        setsByTopicID[set.topicID] = nil
        let members = (setMembers.removeValue(forKey: id)?.ids ?? []).compactMap { subscription(id: $0) }
        for member in members { delete(member, at: time) }
        return members
    }

    /// Forgets a set's record only; its members leave one by one (a change log lists them).
    mutating func forgetSet(id: SetID) {
        guard let set = sets.removeValue(forKey: id) else { return }
        setsByTopicID[set.topicID] = nil
        setMembers[id] = nil
    }

    // MARK: Changes from other instances

    /// Brings the index to the state `changes` describe (idempotent: it sets, it does not replay).
    mutating func apply(_ changes: RegistryChanges) {
        for set in changes.sets { insert(set) }
        for id in changes.removedSets { forgetSet(id: id) }
        for state in changes.subscriptions {
            switch state {
            case .live(let subscription):
                if pushTokensByID[subscription.id] == nil { insert(subscription) }
            case .deleted(let token, let time):
                if let live = subscriptionsByPushToken[token] { delete(live, at: time) } else { deletedPushTokens[token] = time }
            }
        }
        for list in changes.lists { insert(list) }
        for id in changes.removedLists { removeList(id: id) }
    }

    // MARK: Lists

    /// Adds or replaces a list, keeping the member → lists relation in step.
    mutating func insert(_ list: PushList) {
        if let old = lists[list.id] {
            for token in old.members.keys where list.members[token] == nil { unlink(token, from: list.id) }
        }
        lists[list.id] = list
        listIDsByPushToken[list.pushToken] = list.id
        for token in list.members.keys { listIDsByMember[token, default: []].insert(list.id) }
    }

    mutating func removeList(id: ListID) {
        guard let list = lists.removeValue(forKey: id) else { return }
        listIDsByPushToken[list.pushToken] = nil
        for token in list.members.keys { unlink(token, from: id) }
    }

    private mutating func unlink(_ token: PushToken, from listID: ListID) {
        listIDsByMember[token]?.remove(listID)
        if listIDsByMember[token]?.isEmpty == true { listIDsByMember[token] = nil }
    }

    func list(pushToken: ListPushToken) -> PushList? {
        listIDsByPushToken[pushToken].flatMap { lists[$0] }
    }

    func listCount(creator: VAPIDPublicKey) -> Int {
        lists.values.count { $0.creatorKey == creator }
    }
}
