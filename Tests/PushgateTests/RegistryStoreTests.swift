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
    ] + durableSubjects.filter { $0.name == "PostgreSQL" }

    /// The real databases (what the cancellation and batch tests need).
    static let durableSubjects: [Subject] = [
        Subject(name: "SQLite") {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).sqlite").path
            return { try await SQLiteRegistryStore.open(path: path) }
        },
    ] + (TestPostgres.server == nil ? [] : [
        Subject(name: "PostgreSQL") {
            let database = LazyDatabase()
            return { try await PostgresRegistryStore.open(try await database.location()) }
        },
    ])

    /// A database made on first use, the same one after.
    actor LazyDatabase {
        private var made: PostgresLocation?
        func location() async throws -> PostgresLocation {
            if let made { return made }
            let fresh = try await TestPostgres.freshDatabase()
            made = fresh
            return fresh
        }
    }

    @Test("make test runs the PostgreSQL store tests (PUSHGATE_TEST_REQUIRE_POSTGRES=1 means a server must be given)")
    func postgresPresentWhenRequired() {
        #expect(!TestPostgres.isRequiredButMissing, "PUSHGATE_TEST_REQUIRE_POSTGRES=1 but PUSHGATE_TEST_POSTGRES_URL is not set")
    }

    @Test("a large SQLite registry, read in two halves at once, loads every subscription once, tombstones included")
    func largeLoad() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("large-\(UUID().uuidString).sqlite").path
        let key = VAPIDSigningKey.generate().publicKey
        let subscriptions = (0..<25_001).map { Subscription.make(restrictionKey: $0 % 3 == 0 ? key : nil, now: Int64($0), set: .make(now: 1)) }
        let store = try await SQLiteRegistryStore.open(path: path)
        try await store.insert(batch: subscriptions)
        for gone in [subscriptions[0], subscriptions[12_500], subscriptions[25_000]] { try await store.markDeleted(id: gone.id, at: 7) }
        let snapshot = try await store.load()
        try await store.close()
        #expect(snapshot.subscriptions.count == 24_998 && Set(snapshot.subscriptions.map(\.id)).count == 24_998)
        #expect(Set(snapshot.subscriptions) == Set(subscriptions).subtracting([subscriptions[0], subscriptions[12_500], subscriptions[25_000]]))
        #expect(snapshot.deletedPushTokens == [subscriptions[0].pushToken: 7, subscriptions[12_500].pushToken: 7, subscriptions[25_000].pushToken: 7])
        #expect(snapshot.sets.count == 25_001)
    }

    @Test("a stored restriction key that does not parse leaves its subscription out of the load and of reads by key, never open to pushes without VAPID")
    func damagedRestrictionKey() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("damaged-\(UUID().uuidString).sqlite").path
        let damaged = Subscription.make(restrictionKey: VAPIDSigningKey.generate().publicKey, now: 1, set: .make(now: 1))
        let asText = Subscription.make(restrictionKey: VAPIDSigningKey.generate().publicKey, now: 1, set: .make(now: 1))
        let intact = Subscription.make(restrictionKey: VAPIDSigningKey.generate().publicKey, now: 1, set: .make(now: 1))
        let open = Subscription.make(restrictionKey: nil, now: 1)
        var store = try await SQLiteRegistryStore.open(path: path)
        try await store.insert(batch: [damaged, asText, intact, open])
        try await store.close()
        let raw = try await SQLiteConnection.open(storage: .file(path: path))
        // 65 octets with the uncompressed-point prefix, but not a point on the curve.
        _ = try await raw.query("UPDATE subscriptions SET restriction_key = ? WHERE id = ?",
                                [.blob(ByteBuffer(bytes: [4] + [UInt8](repeating: 0, count: 64))), .text(damaged.id.rawValue)])
        _ = try await raw.query("UPDATE subscriptions SET restriction_key = 'not a key' WHERE id = ?", [.text(asText.id.rawValue)])
        try await raw.close()
        store = try await SQLiteRegistryStore.open(path: path)
        let loaded = try await store.load().subscriptions
        // Read by key (how pushes are answered while the index fills) the same rows are left out.
        for left in [damaged, asText] {
            if case .unknown = try await store.lookup(pushToken: left.pushToken) {} else { Issue.record("a damaged row was served by key") }
        }
        let byKey = try await store.subscriptions(pushTokens: [damaged, asText, intact, open].map(\.pushToken))
        try await store.close()
        #expect(Set(loaded) == [intact, open])
        #expect(Set(byKey) == [intact, open])
    }

    @Test("a bulk writer's page cache is raised on its own connection only; the default stays for the server")
    func pageCache() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString).sqlite").path
        let tool = try await SQLiteRegistryStore.open(path: path)
        #expect(try await tool.pageCacheKiB() == 2_000, "SQLite's default: 2,000 KiB")
        try await tool.setPageCache(mebibytes: 512)
        #expect(try await tool.pageCacheKiB() == 512 * 1024)
        try await tool.close()
        let server = try await SQLiteRegistryStore.open(path: path)
        #expect(try await server.pageCacheKiB() == 2_000)
        try await server.close()
    }

    @Test("a load parses each restriction key once: subscriptions restricted to one key share it", arguments: durableSubjects)
    func sharedRestrictionKeys(_ subject: Subject) async throws {
        let (one, two) = (VAPIDSigningKey.generate().publicKey, VAPIDSigningKey.generate().publicKey)
        // Each parsed on its own, as separate subscribe requests do.
        let subscriptions = [one, one, one, two].map {
            Subscription.make(restrictionKey: try! VAPIDPublicKey(base64URL: $0.base64URL), now: 1, set: .make(now: 1))
        }
        let store = try await subject.open()
        try await store.insert(batch: subscriptions)
        let loaded = try await store.load().subscriptions
        try await store.close()
        #expect(Set(loaded) == Set(subscriptions))
        func storage(_ key: VAPIDPublicKey?) -> UnsafeRawPointer? { key?.rawBytes.withUnsafeBytes { $0.baseAddress } }
        let withOne = loaded.filter { $0.restrictionKey == one }.map { storage($0.restrictionKey) }
        #expect(withOne.count == 3 && Set(withOne).count == 1, "one parsed key for the three")
        #expect(storage(loaded.first { $0.restrictionKey == two }?.restrictionKey) != withOne.first)
    }

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

    @Test("a batch of thousands of rows lands in one write", arguments: durableSubjects)
    func bigBatch(_ subject: Subject) async throws {
        let store = try await subject.open()
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
            "INSERT INTO subscriptions VALUES ('AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBA', 'CCCCCCCCCCCCCCCCCCCCCA', NULL, 5, NULL)",
            "PRAGMA user_version = 3",
        ] { _ = try await old.query(statement) }
        try await old.close()

        let store = try await SQLiteRegistryStore.open(path: path)
        let subscription = try #require(try await store.load().subscriptions.first)
        #expect(subscription.set == nil && subscription.topicID.rawValue == "CCCCCCCCCCCCCCCCCCCCCA")
        #expect(TopicScheme(prefix: "webpush").deviceFilter(subscription) == "webpush/CCCCCCCCCCCCCCCCCCCCCA/#")
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

    @Test("a write whose caller is cancelled still completes or rolls back whole; later writes work (no transaction left open)",
          arguments: durableSubjects)
    func cancelledWrites(_ subject: Subject) async throws {
        let store = try await subject.open()
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

    @Test("a second process on one SQLite file is refused, naming PostgreSQL; tools that only read may open it beside the server")
    func sqliteSingleProcess() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("locked-\(UUID().uuidString).sqlite").path
        let server = try await SQLiteRegistryStore.open(path: path)
        // flock locks belong to an open file description, so a second open in this process
        // conflicts exactly as a second process would.
        let error = await #expect(throws: SQLiteRegistryStore.InUse.self) { try await SQLiteRegistryStore.open(path: path) }
        #expect(error?.description.contains("PostgreSQL") == true)
        let reader = try await SQLiteRegistryStore.open(path: path, exclusive: false)
        #expect(try await reader.installationSecret() == server.installationSecret())
        try await reader.close()
        try await server.close()
        let next = try await SQLiteRegistryStore.open(path: path)
        try await next.close()
    }

    @Test("PostgreSQL: instances starting together migrate once; a database from a newer Pushgate is refused",
          .enabled(if: TestPostgres.server != nil))
    func postgresMigrations() async throws {
        let location = try await TestPostgres.freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresRegistryStore.self) { group in
            for _ in 0..<5 { group.addTask { try await PostgresRegistryStore.open(location) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 5)
        let secrets = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for store in stores { group.addTask { try await store.installationSecret() } }
            return try await group.reduce(into: Set<[UInt8]>()) { $0.insert($1) }
        }
        #expect(secrets.count == 1, "one installation secret, whichever instance made it")
        try await stores[0].executeForTests("UPDATE pushgate_schema SET version = 99")
        for store in stores { try await store.close() }
        let error = await #expect(throws: PostgresRegistryStore.NewerSchema.self) { try await PostgresRegistryStore.open(location) }
        #expect(error?.found == 99)
    }

    @Test("PostgreSQL: an unreachable server fails the open within seconds, naming the database without its password",
          .enabled(if: TestPostgres.server != nil))
    func postgresUnreachable() async throws {
        let location = PostgresLocation(host: "127.0.0.1", port: 1, username: "pushgate", password: "secret-password", database: "nowhere", tls: .disable)
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresRegistryStore.Unreachable.self) { try await PostgresRegistryStore.open(location) }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.description.contains("postgres://pushgate@127.0.0.1:1/nowhere") == true)
        #expect(error?.description.contains("secret-password") == false)
    }
}
