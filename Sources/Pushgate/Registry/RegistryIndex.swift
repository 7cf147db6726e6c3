import Dispatch
import NIOConcurrencyHelpers
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
    /// Live sets with their live members, one entry per set: a dictionary of records and one of
    /// members cost a second key and table per set (~60 bytes per subscription at a million, as
    /// nearly every subscription has a set of its own).
    private var sets: [SetID: SetEntry] = [:]
    private(set) var lists: [ListID: PushList] = [:]
    private(set) var listIDsByPushToken: [ListPushToken: ListID] = [:]
    /// member push token → ids of the lists it is in.
    private(set) var listIDsByMember: [PushToken: Set<ListID>] = [:]

    init() {}

    /// The index of a loaded snapshot.
    ///
    /// The subscription tables and the set table are independent, so they are built on two
    /// threads: restart-to-ready waits for the larger half, not the sum (issue 16). Each table is
    /// sized from the snapshot and each entry written with one probe — at millions of entries
    /// every probe is a cache miss.
    init(_ snapshot: RegistrySnapshot) {
        let subscriptionTables = NIOLockedValueBox<([PushToken: Subscription], [SubscriptionID: PushToken])>(([:], [:]))
        let setTable = NIOLockedValueBox<[SetID: SetEntry]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            if part == 0 {
                var byPushToken = [PushToken: Subscription](minimumCapacity: snapshot.subscriptions.count)
                var byID = [SubscriptionID: PushToken](minimumCapacity: snapshot.subscriptions.count)
                for subscription in snapshot.subscriptions {
                    byPushToken[subscription.pushToken] = subscription
                    byID[subscription.id] = subscription.pushToken
                }
                subscriptionTables.withLockedValue { $0 = (byPushToken, byID) }
            } else {
                var sets = [SetID: SetEntry](minimumCapacity: snapshot.sets.count)
                for set in snapshot.sets { sets[set.id] = SetEntry(set) }
                for subscription in snapshot.subscriptions {
                    guard let set = subscription.set else { continue }
                    sets[set.id, default: SetEntry(set)].members.insert(subscription.id)
                }
                setTable.withLockedValue { $0 = sets }
            }
        }
        (subscriptionsByPushToken, pushTokensByID) = subscriptionTables.withLockedValue { $0 }
        sets = setTable.withLockedValue { $0 }
        deletedPushTokens = snapshot.deletedPushTokens
        for list in snapshot.lists { insert(list) }
    }

    // MARK: Subscriptions

    mutating func insert(_ subscription: Subscription) {
        subscriptionsByPushToken[subscription.pushToken] = subscription
        pushTokensByID[subscription.id] = subscription.pushToken
        if let set = subscription.set { sets[set.id, default: SetEntry(set)].members.insert(subscription.id) }
    }

    /// Forgets a subscription, remembers its push token as deleted (410) since `time`, and removes
    /// it from every list and its set.
    mutating func delete(_ subscription: Subscription, at time: Int64) {
        pushTokensByID[subscription.id] = nil
        subscriptionsByPushToken[subscription.pushToken] = nil
        deletedPushTokens[subscription.pushToken] = time
        if let set = subscription.set, let members = sets[set.id]?.members { sets[set.id]?.members = members.removing(subscription.id) }
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

    /// A live set's record (its id is the key) and its live members.
    private struct SetEntry: Sendable {
        let topicID: TopicID
        let createdAt: Int64
        var members: SetMembers?

        init(_ set: SubscriptionSet) {
            topicID = set.topicID
            createdAt = set.createdAt
        }
    }

    /// Adds a set (its members join as their subscriptions are inserted); a known set keeps its members.
    mutating func insert(_ set: SubscriptionSet) {
        guard sets[set.id] == nil else { return }
        sets[set.id] = SetEntry(set)
    }

    /// The live set with this id.
    func set(id: SetID) -> SubscriptionSet? {
        sets[id].map { SubscriptionSet(id: id, topicID: $0.topicID, createdAt: $0.createdAt) }
    }

    /// The live members of a set; `nil` when it has none (or is not live).
    func members(ofSet id: SetID) -> SetMembers? {
        sets[id]?.members
    }

    /// Live sets.
    var setCount: Int { sets.count }

    /// Deletes a set and every member; returns the members.
    mutating func deleteSet(id: SetID, at time: Int64) -> [Subscription] {
        guard let entry = sets.removeValue(forKey: id) else { return [] }
        let members = (entry.members?.ids ?? []).compactMap { subscription(id: $0) }
        for member in members { delete(member, at: time) }
        return members
    }

    /// Forgets a set's record only; its members leave one by one (a change log lists them).
    mutating func forgetSet(id: SetID) {
        sets[id] = nil
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
