import Dispatch
import Foundation
import Logging
import ServiceLifecycle

/// Re-reads the config file on SIGHUP and swaps in its broadcast routes (`routes:`) and the TLS
/// certificate and key (the same paths, new contents: a renewed certificate), without touching
/// connections.
///
/// Changes to the other sections (listen address, broker, storage, limits) take effect on
/// restart. A file that no longer validates, or a certificate that does not load, is logged
/// with its error and changes nothing.
struct ConfigReloader: Service, CustomStringConvertible {
    let path: String
    let secret: [UInt8]
    let api: PushgateAPI
    let server: HTTPServer?
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

    func reload() {
        let config: PushgateConfig
        do {
            config = try ConfigLoader.load(path: path)
        } catch {
            logger.error("config: reload refused, routes unchanged", metadata: ["error": "\(error)"])
            return
        }
        if let tls = config.server.tls, let server {
            do {
                try server.reloadTLS(tls)
                logger.notice("config: TLS certificate reloaded", metadata: ["certificate": "\(tls.certificate)"])
            } catch {
                logger.error("config: TLS certificate not reloaded; still serving the previous one", metadata: ["error": "\(error)"])
            }
        }
        let before = Set(api.broadcastTable.entries.map(\.route.name))
        let table = BroadcastTable(config.broadcasts, secret: secret)
        api.reloadBroadcasts(table)
        let after = Set(table.entries.map(\.route.name))
        logger.notice("config: routes reloaded", metadata: [
            "routes": "\(after.count)",
            "added": "\(after.subtracting(before).sorted().joined(separator: ","))",
            "removed": "\(before.subtracting(after).sorted().joined(separator: ","))",
        ])
    }
}
