import Store

/// The store's disk filled up during a job. The job stops at once: every
/// further instance would fail the same way, and a thousand identical
/// failures would bury the one thing the user must do.
public struct StoreFullError: Error, Sendable, CustomStringConvertible {
    /// The store's home folder.
    public var home: String
    /// The failure as the store reported it.
    public var detail: String

    public init(home: String, detail: String) {
        self.home = home
        self.detail = detail
    }

    public var description: String {
        "the store's disk is full (\(detail)). What was stored before is kept; free space where the store lives "
            + "(\(home)) and run the same command again: it goes on where it stopped."
    }
}
