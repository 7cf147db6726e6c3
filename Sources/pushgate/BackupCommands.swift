import ArgumentParser
import Foundation
import Pushgate

/// `pushgate backup FILE`: an online, consistent copy of the registry.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the registry to FILE, beside a running server.",
        discussion: """
            SQLite: `VACUUM INTO` (a compact copy of one consistent moment). PostgreSQL: pg_dump in its \
            custom format (`pg_restore` reads it). Either way the server keeps running.
            """
    )

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String = "config.yaml"

    @Argument(help: "The file to write (must not exist).")
    var file: String

    func run() async throws {
        let loaded = try loadConfigOrExit(config)
        try await orExit("pushgate backup") {
            switch loaded.storage.backend {
            case .sqlite(let path):
                try await SQLiteRegistryStore.backup(path: path, to: file)
            case .postgres(let location):
                guard !FileManager.default.fileExists(atPath: file) else { throw CommandProblem("\(file) exists already; choose a new file") }
                try runPostgresTool("pg_dump", ["--format=custom", "--file=\(file)"], location)
            }
        }
        print("registry \(loaded.storage.displayName) backed up to \(file)")
    }
}

/// `pushgate restore FILE`: puts a backup back.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the registry with a backup made by `pushgate backup` (stop the server first).",
        discussion: """
            SQLite: the backup is checked (a Pushgate registry, not newer than this version, SQLite's \
            integrity check) and swapped in; refused while a server has the file open. PostgreSQL: \
            pg_restore --clean into the configured database (stop every instance first).
            """
    )

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String = "config.yaml"

    @Argument(help: "The backup file.")
    var file: String

    func run() async throws {
        let loaded = try loadConfigOrExit(config)
        try await orExit("pushgate restore") {
            switch loaded.storage.backend {
            case .sqlite(let path):
                try await SQLiteRegistryStore.restore(from: file, to: path)
            case .postgres(let location):
                try runPostgresTool("pg_restore", ["--clean", "--if-exists", "--single-transaction", file], location)
            }
        }
        print("registry \(loaded.storage.displayName) restored from \(file)")
    }
}

/// Runs pg_dump or pg_restore against `location` (the password through PGPASSWORD, never argv).
func runPostgresTool(_ tool: String, _ arguments: [String], _ location: PostgresLocation) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool, "--host=\(location.host)", "--port=\(location.port)", "--username=\(location.username)",
                         "--dbname=\(location.database)", "--no-password"] + arguments
    var environment = ProcessInfo.processInfo.environment
    if let password = location.password { environment["PGPASSWORD"] = password }
    environment["PGSSLMODE"] = location.tls.rawValue
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    do {
        try process.run()
    } catch {
        throw CommandProblem("cannot run \(tool) (install Debian's postgresql-client): \(error)")
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw CommandProblem("\(tool) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}

/// A command that cannot do what it was asked, in one line.
struct CommandProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
