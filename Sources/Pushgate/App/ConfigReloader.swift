import Dispatch
import Foundation
import Logging
import ServiceLifecycle

/// Re-reads the config file on SIGHUP and applies what can change under load, without dropping
/// a connection: `routes` (broadcast routes), `limits` (payload size, TTL cap), `access`
/// (subscribe tokens, require_vapid),
/// `rate_limits`, `logging.level`, and the TLS certificate and key (new contents at the same
/// paths: a renewal). Every other section needs a restart: a change there is named in the log
/// and not applied. A file that no longer validates, or a certificate that does not load, is
/// logged with its error and changes nothing.
struct ConfigReloader: Service, CustomStringConvertible {
    let path: String
    let secret: [UInt8]
    let api: PushgateAPI
    let server: HTTPServer?
    /// The configuration in force (what a reload compares with).
    let running: PushgateConfig
    let logger: Logger

    /// What ServiceLifecycle logs for this service: never the secret it holds.
    var description: String { "ConfigReloader(\(path))" }

    func run() async throws {
        // SIGHUP's default action ends the process; the dispatch source sees it once ignored.
        signal(SIGHUP, SIG_IGN)
        let (hangups, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        await withGracefulShutdownHandler {
            for await _ in hangups { reload() }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// The sections that need a restart to change and differ between `old` and `new` (the TLS
    /// file paths count; the files' contents reload).
    static func restartOnly(_ old: PushgateConfig, _ new: PushgateConfig) -> [String] {
        var oldServer = old.server, newServer = new.server
        oldServer.tls = nil
        newServer.tls = nil
        let differences: [(String, Bool)] = [
            ("server", oldServer != newServer), ("server.tls", old.server.tls != new.server.tls), ("mqtt", old.mqtt != new.mqtt),
            ("storage", old.storage != new.storage), ("lists", old.lists != new.lists), ("receipts", old.receipts != new.receipts),
            ("metrics", old.metrics != new.metrics), ("logging.format", old.logging.format != new.logging.format),
            ("logging.access_log", old.logging.accessLog != new.logging.accessLog),
        ]
        return differences.filter(\.1).map(\.0)
    }

    func reload() {
        let config: PushgateConfig
        do {
            config = try ConfigLoader.load(path: path)
        } catch {
            logger.error("config: reload refused, nothing changed", metadata: ["error": "\(error)"])
            return
        }
        let needRestart = Self.restartOnly(running, config)
        if !needRestart.isEmpty {
            logger.warning("config: these sections changed but need a restart; not applied", metadata: ["sections": "\(needRestart.joined(separator: ","))"])
        }
        var applied = api.reload(limits: config.limits, access: config.access, rateLimits: config.rateLimits)
        // Switched after this reload's own line, which the new level might hide.
        let newLevel = Logger.Level(rawValue: config.logging.level).flatMap { $0 != LogLevelSwitch.shared.level ? $0 : nil }
        if newLevel != nil { applied.append("logging.level") }
        if let tls = config.server.tls, let server {
            do {
                try server.reloadTLS(tls)
                applied.append("server.tls (certificate re-read)")
            } catch {
                logger.error("config: TLS certificate not reloaded; still serving the previous one", metadata: ["error": "\(error)"])
            }
        }
        let before = Set(api.broadcastTable.entries.map(\.route.name))
        let table = BroadcastTable(config.broadcasts, secret: secret)
        api.reloadBroadcasts(table)
        let after = Set(table.entries.map(\.route.name))
        logger.notice("config: reloaded", metadata: [
            "applied": "\(applied.joined(separator: ","))",
            "routes": "\(after.count)",
            "added": "\(after.subtracting(before).sorted().joined(separator: ","))",
            "removed": "\(before.subtracting(after).sorted().joined(separator: ","))",
        ])
        if let newLevel { LogLevelSwitch.shared.level = newLevel }
    }
}
