import Foundation

/// The passphrase of an AES-encrypted zip (WinZip AE-2, libarchive). It
/// never shows in a description, a log, JSON or the audit log: printing
/// one gives `<passphrase>`.
public struct Passphrase: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself, for libarchive only.
    let text: String

    /// nil for an empty passphrase.
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        self.text = text
    }

    public var description: String { "<passphrase>" }
    public var debugDescription: String { "<passphrase>" }

    /// The first line of `path` (its line ending dropped).
    public static func read(file path: String) throws(MediaError) -> Passphrase {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MediaError(.unreadable, "cannot read the passphrase file: \(error.localizedDescription)", path: path)
        }
        let firstLine = data.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? Data()
        var line = String(decoding: firstLine, as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        guard let passphrase = Passphrase(line) else {
            throw MediaError(.unreadable, "the first line of the passphrase file is empty", path: path)
        }
        return passphrase
    }
}
