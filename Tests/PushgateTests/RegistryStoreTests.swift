import Foundation
import PushgateTestSupport
import SQLiteNIO
import Testing
import WebPush
@testable import Pushgate

/// The contract every ``RegistryStore`` keeps, run against each implementation: what is written
/// comes back from `load()` after reopening, deletes cascade into lists, the secret is stable.
@Suite("Registry stores")
struct RegistryStoreTests {
    /// A kind of store. Each test makes its own (tests run in parallel); `open` opens it again
    /// with the same data, as after a restart.
    struct Subject: Sendable, CustomTestStringConvertible {
        let name: String
        let fresh: @Sendable () -> @Sendable () async throws -> any RegistryStore
        var testDescription: String { name }

        var open: @Sendable () async throws -> any RegistryStore { fresh() }
    }

    static let subjects: [Subject] = [
        Subject(name: "SQLite") {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).sqlite").path
            return { try await SQLiteRegistryStore.open(path: path) }
        },
        Subject(name: "memory (the unit-test fake)") {
            let store = MemoryStore()
            return { store }
        },
    ]

    @Test("subscriptions, restriction keys, deletions and lists survive a reopen", arguments: subjects)
    func roundTrip(_ subject: Subject) async throws {
        let open = subject.open
        let key = VAPIDSigningKey.generate().publicKey
        let plain = Subscription.make(restrictionKey: nil, now: 100)
        let restricted = Subscription.make(restrictionKey: key, now: 101)
        let gone = Subscription.make(restrictionKey: nil, now: 102)
        let list = PushList(id: .random(), pushToken: .random(), creatorKey: key,
                            members: [plain.pushToken: .init(expires: 2_000_000_000, encryptedKey: "abc"), gone.pushToken: .init()], createdAt: 103)
        do {
            let store = try await open()
            try await store.insert(plain)
            try await store.insert(restricted)
            try await store.insert(batch: [gone])
            try await store.insertList(list)
            try await store.markDeleted(id: gone.id, at: 200)
            try await store.close()
        }
        let store = try await open()
        let snapshot = try await store.load()
        #expect(Set(snapshot.subscriptions) == [plain, restricted])
        #expect(snapshot.deletedPushTokens[gone.pushToken] == 200)
        let loaded = try #require(snapshot.lists.first { $0.id == list.id })
        #expect(loaded.pushToken == list.pushToken && loaded.creatorKey == key && loaded.createdAt == 103)
        #expect(loaded.members == [plain.pushToken: .init(expires: 2_000_000_000, encryptedKey: "abc")], "the deleted member left the list")
        try await store.close()
    }

    @Test("list changes apply atomically and a deleted list is gone", arguments: subjects)
    func listChanges(_ subject: Subject) async throws {
        let open = subject.open
        let key = VAPIDSigningKey.generate().publicKey
        let a = PushToken.random(), b = PushToken.random()
        let list = PushList(id: .random(), pushToken: .random(), creatorKey: key, members: [a: .init()], createdAt: 1)
        let other = PushList(id: .random(), pushToken: .random(), creatorKey: key, members: [a: .init()], createdAt: 1)
        let store = try await open()
        try await store.insertList(list)
        try await store.insertList(other)
        try await store.updateList(id: list.id, [.remove(a), .upsert(b, .init(expires: 5))])
        try await store.deleteList(id: other.id)
        let lists = try await store.load().lists
        #expect(lists.first { $0.id == list.id }?.members == [b: .init(expires: 5)])
        #expect(!lists.contains { $0.id == other.id })
        try await store.close()
    }

    @Test("the installation secret is 32 octets and the same on every call and after a reopen", arguments: subjects)
    func secret(_ subject: Subject) async throws {
        let open = subject.open
        let store = try await open()
        let first = try await store.installationSecret()
        #expect(first.count == 32)
        #expect(try await store.installationSecret() == first)
        try await store.close()
        let reopened = try await open()
        #expect(try await reopened.installationSecret() == first)
        try await reopened.close()
    }

    @Test("a batch of thousands of rows lands in one write")
    func bigBatch() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(UUID().uuidString).sqlite").path
        let store = try await SQLiteRegistryStore.open(path: path)
        let batch = (0..<5_003).map { _ in Subscription.make(restrictionKey: nil, now: 1) }
        try await store.insert(batch: batch)
        #expect(Set(try await store.load().subscriptions) == Set(batch))
        try await store.close()
    }

    @Test("a version-3 file (before sets) is migrated in place: its subscriptions keep their topics; a newer file is refused")
    func migration() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("v3-\(UUID().uuidString).sqlite").path
        let old = try await SQLiteConnection.open(storage: .file(path: path))
        for statement in [
            "CREATE TABLE subscriptions (id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, topic_id TEXT NOT NULL UNIQUE, restriction_key BLOB, created_at INTEGER NOT NULL, deleted_at INTEGER)",
            "CREATE TABLE lists (id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, creator_key BLOB NOT NULL, created_at INTEGER NOT NULL)",
            "CREATE TABLE list_members (list_id TEXT NOT NULL, member_token TEXT NOT NULL, expires_at INTEGER, encrypted_key TEXT, PRIMARY KEY (list_id, member_token))",
            "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
            "INSERT INTO subscriptions VALUES ('AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBB', 'CCCCCCCCCCCCCCCCCCCCCC', NULL, 5, NULL)",
            "PRAGMA user_version = 3",
        ] { _ = try await old.query(statement) }
        try await old.close()

        let store = try await SQLiteRegistryStore.open(path: path)
        let subscription = try #require(try await store.load().subscriptions.first)
        #expect(subscription.set == nil && subscription.topicID.rawValue == "CCCCCCCCCCCCCCCCCCCCCC")
        #expect(TopicScheme(prefix: "webpush").deviceFilter(subscription) == "webpush/CCCCCCCCCCCCCCCCCCCCCC/#")
        try await store.insert(Subscription.make(restrictionKey: nil, now: 6, set: .make(now: 6)))
        try await store.close()

        let newer = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await newer.query("PRAGMA user_version = 99")
        try await newer.close()
        await #expect(throws: SQLiteRegistryStore.NewerSchema.self) { try await SQLiteRegistryStore.open(path: path) }
    }

    @Test("an existing empty (0-byte) registry file is refused with a hint and left as it is; a missing one is created")
    func emptyFileRefused() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString).sqlite").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let error = await #expect(throws: SQLiteRegistryStore.EmptyFile.self) { try await SQLiteRegistryStore.open(path: path) }
        #expect(error?.description.contains("restore it from a backup, or delete the file") == true)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue == 0)
        try FileManager.default.removeItem(atPath: path)
        let store = try await SQLiteRegistryStore.open(path: path)
        try await store.insert(Subscription.make(restrictionKey: nil, now: 1))
        try await store.close()
        let again = try await SQLiteRegistryStore.open(path: path)
        #expect(try await again.load().subscriptions.count == 1)
        try await again.close()
    }

    @Test("a write whose caller is cancelled still completes or rolls back whole; later writes work (no transaction left open)")
    func cancelledWrites() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cancel-\(UUID().uuidString).sqlite").path
        let store = try await SQLiteRegistryStore.open(path: path)
        // Cancelled at different moments: before it starts, and in the middle of its statements.
        for round in 0..<30 {
            let batch = (0..<2_000).map { _ in Subscription.make(restrictionKey: nil, now: 1) }
            let write = Task { try await store.insert(batch: batch) }
            if round > 0 { try await Task.sleep(for: .microseconds(200 * round)) }
            write.cancel()
            _ = await write.result
        }
        let last = Subscription.make(restrictionKey: nil, now: 2)
        try await store.insert(last)
        let loaded = try await store.load().subscriptions
        #expect(loaded.contains(last))
        #expect(loaded.count % 2_000 == 1, "every batch landed whole or not at all")
        try await store.close()
    }
}
