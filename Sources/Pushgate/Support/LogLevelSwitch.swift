public import Logging
import NIOConcurrencyHelpers

/// One log level for the whole process that SIGHUP can change: swift-log copies a level into
/// every `Logger`, so `pushgate serve` wraps each handler in a ``LevelSwitchedLogHandler`` that
/// reads (and sets) this instead.
public final class LogLevelSwitch: Sendable {
    /// The process's switch.
    public static let shared = LogLevelSwitch()

    private let box = NIOLockedValueBox(Logger.Level.info)

    /// The level in force.
    public var level: Logger.Level {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }
}

/// A handler whose level is ``LogLevelSwitch/shared``'s — unless a level was set on this logger
/// itself (a library's deliberately quiet logger), which then stays as set.
public struct LevelSwitchedLogHandler: LogHandler {
    private var base: any LogHandler
    private var ownLevel: Logger.Level?

    /// Wraps `base`.
    public init(base: any LogHandler) {
        self.base = base
    }

    public var logLevel: Logger.Level {
        get { ownLevel ?? LogLevelSwitch.shared.level }
        set { ownLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        base.log(event: event)
    }
}
