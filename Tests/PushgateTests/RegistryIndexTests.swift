import NIOCore
import Testing
import WebPush
@testable import Pushgate

/// The in-memory index on its own: relations kept both ways, tombstones, list ownership counts.
@Suite("Registry index")
struct RegistryIndexTests {
    let creator = VAPIDSigningKey.generate().publicKey

    func list(_ members: [Subscription], creator: VAPIDPublicKey? = nil) -> PushList {
        PushList(id: .random(), pushToken: .random(), creatorKey: creator ?? self.creator,
                 members: Dictionary(uniqueKeysWithValues: members.map { ($0.pushToken, PushList.Member()) }), createdAt: 0)
    }

    @Test("deleting a subscription tombstones its push token and removes it from every list it was in")
    func deleteCascades() {
        var index = RegistryIndex()
        let a = Subscription.make(restrictionKey: nil, now: 0), b = Subscription.make(restrictionKey: nil, now: 0)
        index.insert(a)
        index.insert(b)
        let one = list([a, b]), two = list([a])
        index.insert(one)
        index.insert(two)
        #expect(index.listIDsByMember[a.pushToken] == [one.id, two.id])
        index.delete(a, at: 5)
        #expect(index.subscription(pushToken: a.pushToken) == nil && index.subscription(id: a.id) == nil && index.subscriptionCount == 1)
        #expect(index.deletedPushTokens[a.pushToken] == 5)
        #expect(index.lists[one.id]?.members.keys.sorted { $0.rawValue < $1.rawValue } == [b.pushToken])
        #expect(index.lists[two.id]?.members.isEmpty == true)
        #expect(index.listIDsByMember[a.pushToken] == nil)
    }

    @Test("records stay reachable by push token and id through deletes that move the last one into the gap, from a snapshot or inserted")
    func denseRecords() {
        let set = SubscriptionSet.make(now: 0)
        let subscriptions = (0..<50).map { Subscription.make(restrictionKey: nil, now: Int64($0), set: $0 % 2 == 0 ? set : nil) }
        var fromSnapshot = RegistryIndex(RegistrySnapshot(subscriptions: subscriptions, sets: [set]))
        var inserted = RegistryIndex()
        for subscription in subscriptions { inserted.insert(subscription) }
        for var index in [fromSnapshot, inserted] {
            var live = Set(subscriptions.map(\.id))
            // First, last, middle, then the rest in a scrambled order.
            for victim in [subscriptions[0], subscriptions[49], subscriptions[25]] + subscriptions.shuffled().prefix(30) where live.contains(victim.id) {
                index.delete(victim, at: 9)
                live.remove(victim.id)
                #expect(index.subscriptionCount == live.count)
                for subscription in subscriptions {
                    let expected = live.contains(subscription.id) ? subscription : nil
                    #expect(index.subscription(pushToken: subscription.pushToken) == expected && index.subscription(id: subscription.id) == expected)
                }
            }
            index.insert(subscriptions[0])
            #expect(index.subscription(id: subscriptions[0].id) == subscriptions[0] && index.subscriptionCount == live.count + 1)
            #expect(Set(index.members(ofSet: set.id)?.ids ?? []) == Set(subscriptions.filter { live.contains($0.id) && $0.set != nil }.map(\.id)).union([subscriptions[0].id]))
        }
        // A record with a push token seen before replaces the earlier one (a snapshot not written by this service).
        let twin = Subscription(id: .random(), pushToken: subscriptions[1].pushToken, topicID: .random(), restrictionKey: nil, createdAt: 99)
        fromSnapshot = RegistryIndex(RegistrySnapshot(subscriptions: [subscriptions[1], twin, subscriptions[3]]))
        #expect(fromSnapshot.subscriptionCount == 2 && fromSnapshot.subscription(pushToken: twin.pushToken) == twin)
        #expect(fromSnapshot.subscription(id: subscriptions[1].id) == nil && fromSnapshot.subscription(id: subscriptions[3].id) == subscriptions[3])
    }

    @Test("set members: one inline, more in a set, back to one, gone with the last; deleting the set deletes who is left")
    func setMembers() {
        var index = RegistryIndex()
        let set = SubscriptionSet.make(now: 0)
        let a = Subscription.make(restrictionKey: nil, now: 0, set: set)
        let b = Subscription.make(restrictionKey: nil, now: 0, set: set)
        let c = Subscription.make(restrictionKey: nil, now: 0, set: set)
        index.insert(a)
        #expect(index.members(ofSet: set.id) == .one(a.id))
        index.insert(b)
        index.insert(c)
        #expect(index.members(ofSet: set.id) == .many([a.id, b.id, c.id]))
        index.delete(b, at: 1)
        index.delete(c, at: 1)
        #expect(index.members(ofSet: set.id) == .one(a.id))
        index.delete(a, at: 1)
        #expect(index.members(ofSet: set.id) == nil && index.set(id: set.id) == set, "the set outlives its members until it is deleted")
        index.insert(b)
        index.insert(c)
        let removed = index.deleteSet(id: set.id, at: 2)
        #expect(Set(removed.map(\.id)) == [b.id, c.id])
        #expect(index.subscriptionCount == 0 && index.setCount == 0)
        #expect(index.deletedPushTokens[c.pushToken] == 2)
    }

    @Test("replacing a list unlinks the members it lost; removing it unlinks all and frees its push token")
    func listRelations() {
        var index = RegistryIndex()
        let a = Subscription.make(restrictionKey: nil, now: 0), b = Subscription.make(restrictionKey: nil, now: 0)
        var list = list([a, b])
        index.insert(list)
        list.members[a.pushToken] = nil
        index.insert(list)
        #expect(index.listIDsByMember[a.pushToken] == nil)
        #expect(index.listIDsByMember[b.pushToken] == [list.id])
        #expect(index.list(pushToken: list.pushToken)?.id == list.id)
        index.removeList(id: list.id)
        #expect(index.lists.isEmpty && index.listIDsByMember.isEmpty && index.list(pushToken: list.pushToken) == nil)
    }

    @Test("lists are counted per creator key; a snapshot builds the same index")
    func snapshot() {
        let other = VAPIDSigningKey.generate().publicKey
        let a = Subscription.make(restrictionKey: nil, now: 0)
        let deleted = PushToken.random()
        let index = RegistryIndex(RegistrySnapshot(subscriptions: [a], deletedPushTokens: [deleted: 1],
                                                   lists: [list([a]), list([a]), list([], creator: other)]))
        #expect(index.listCount(creator: creator) == 2 && index.listCount(creator: other) == 1)
        #expect(index.subscription(pushToken: a.pushToken) == a && index.deletedPushTokens == [deleted: 1])
        #expect(index.listIDsByMember[a.pushToken]?.count == 2)
    }

    @Test("PushList.changes(to:) is exactly what turns one membership into the other")
    func changes() {
        let a = PushToken.random(), b = PushToken.random(), c = PushToken.random()
        let before = PushList(id: .random(), pushToken: .random(), creatorKey: creator,
                              members: [a: .init(), b: .init(expires: 10)], createdAt: 0)
        var after = before
        after.members[a] = nil
        after.members[b] = .init(expires: 20)
        after.members[c] = .init(encryptedKey: "k")
        let changes = before.changes(to: after)
        #expect(changes.count == 3)
        #expect(changes.contains(.remove(a)) && changes.contains(.upsert(b, .init(expires: 20))) && changes.contains(.upsert(c, .init(encryptedKey: "k"))))
        #expect(before.changes(to: before).isEmpty)
    }
}

/// The rendered-document cache of `GET /l/<id>` (issue 15 #9).
@Suite("List document cache")
struct ListDocumentCacheTests {
    @Test("rendered once while the list is unchanged; again after a change, after a member expires, and after eviction")
    func cache() {
        let cache = ListDocumentCache(capacity: 1)
        let key = VAPIDSigningKey.generate().publicKey
        var list = PushList(id: .random(), pushToken: .random(), creatorKey: key, members: [.random(): .init(expires: 100)], createdAt: 0)
        var renders = 0
        let render: (PushList) -> ByteBuffer = { list in
            renders += 1
            return ByteBuffer(string: "\(list.members.count)")
        }
        #expect(String(buffer: cache.document(of: list, now: 10, render: render)) == "1")
        _ = cache.document(of: list, now: 20, render: render)
        #expect(renders == 1)
        list.members[.random()] = .init()
        #expect(String(buffer: cache.document(of: list, now: 20, render: render)) == "2" && renders == 2)
        _ = cache.document(of: list, now: 100, render: render)          // a member expired: the document changed
        #expect(renders == 3)
        let other = PushList(id: .random(), pushToken: .random(), creatorKey: key, members: [:], createdAt: 0)
        _ = cache.document(of: other, now: 100, render: render)
        _ = cache.document(of: list, now: 100, render: render)          // evicted by the other list (capacity 1)
        #expect(renders == 5)
    }
}
