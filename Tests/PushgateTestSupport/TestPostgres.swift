import Foundation
import Logging
public import Pushgate
import PostgresNIO

/// The PostgreSQL server the test run started (`scripts/test.sh` exports its URL as
/// `PUSHGATE_TEST_POSTGRES_URL`). Each test gets a database of its own on it.
public enum TestPostgres {
    /// The server, or `nil` when the run has none (then PostgreSQL tests are skipped — unless
    /// `PUSHGATE_TEST_REQUIRE_POSTGRES=1`, which `make test` sets, and ``isRequiredButMissing``
    /// fails the run).
    public static let server: PostgresLocation? = ProcessInfo.processInfo.environment["PUSHGATE_TEST_POSTGRES_URL"]
        .flatMap(PostgresLocation.init(parsing:))
        .map { location in
            var location = location
            location.tls = .disable
            return location
        }

    /// Whether the run asked for PostgreSQL and has none.
    public static var isRequiredButMissing: Bool {
        server == nil && ProcessInfo.processInfo.environment["PUSHGATE_TEST_REQUIRE_POSTGRES"] == "1"
    }

    /// Creates an empty database and returns where it is.
    public static func freshDatabase() async throws -> PostgresLocation {
        guard var location = server else { throw Missing() }
        let name = "pushgate_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.username,
                                                             password: location.password, database: location.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "test.postgres"))
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "test.postgres"))
        location.database = name
        return location
    }

    /// No server was given.
    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "no PostgreSQL server: set PUSHGATE_TEST_POSTGRES_URL (scripts/test.sh does)" }
    }
}
