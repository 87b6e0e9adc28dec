import ArgumentParser
import Foundation
import Media
import Store
import Synchronization

/// `--home DIR`, taken by every command that uses the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The store's folder (default: $DISCPORT_HOME, else ~/.local/share/discport).", valueName: "dir"))
    var home: String?

    /// The folder the store lives in.
    var resolvedHome: String { home ?? InstanceStore.defaultHome() }

    /// Opens (creating when needed) the store.
    func open() throws -> InstanceStore {
        do {
            return try InstanceStore(home: home)
        } catch {
            throw CLIError("cannot open the store at \(resolvedHome): \(error)", status: 3)
        }
    }

    /// The store, for commands that only look at it: a home without a
    /// catalog is an error (status 3), never created.
    func openForReading() throws -> InstanceStore {
        do {
            return try InstanceStore(existingHome: home)
        } catch {
            throw CLIError("cannot open the store at \(resolvedHome): \(error)", status: 3)
        }
    }

    /// Opens the store only when it exists (read-only commands never create one).
    func openExisting() throws -> InstanceStore? {
        guard FileManager.default.fileExists(atPath: resolvedHome + "/catalog.sqlite") else { return nil }
        return try open()
    }
}

/// A failure the user can act on: printed as `discport: message`, then the
/// process exits with `status`.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var status: Int32
    init(_ message: String, status: Int32 = 1) {
        self.message = message
        self.status = status
    }
    var description: String { message }
}

enum Terminal {
    static var outputIsTTY: Bool { isatty(1) == 1 }
    static var inputIsTTY: Bool { isatty(0) == 1 }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data("discport: \(text)\n".utf8))
    }

    /// Writes `data` to standard output, all of it. When it cannot be
    /// written (a full disk, or the reader gone while SIGPIPE is ignored;
    /// by default that signal ends the process), says so on standard error
    /// and ends the process with exit status 2: output is never cut short
    /// without a word, nor a crash. A job stopped this way (import, migrate,
    /// send) goes on where it stopped when run again.
    static func writeOut(_ data: Data) {
        // After what `print` has buffered, so the two stay in order.
        if fflush(nil) != 0 { outputFailed(String(cString: strerror(errno))) }
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(1, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { outputFailed(written < 0 ? String(cString: strerror(errno)) : "nothing was written") }
                offset += written
            }
        }
    }

    /// Ends the process: standard output could not be written.
    static func outputFailed(_ reason: String) -> Never {
        FileHandle.standardError.write(Data("discport: cannot write to standard output (\(reason)); stopped\n".utf8))
        Foundation.exit(2)
    }

    /// What `print` leaves in its buffer is written at exit, where a failure
    /// would go unnoticed: checked there, ending with status 2 as ``writeOut(_:)``.
    static func checkBufferedOutputAtExit() {
        atexit {
            guard fflush(nil) != 0 else { return }
            let message = "discport: cannot write to standard output (\(String(cString: strerror(errno)))); stopped\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(2)
        }
    }

    /// Asks on the terminal; nil at end of input.
    static func ask(_ question: String) -> String? {
        Terminal.writeOut(Data(question.utf8))
        return readLine()?.trimmingCharacters(in: .whitespaces)
    }

    /// Asks for a secret on the controlling terminal (`/dev/tty`, echo
    /// off; what was typed ahead is kept), restoring the terminal after;
    /// nil without a terminal, "" at end of input. The secret is never
    /// echoed or logged.
    static func askSecret(_ prompt: String) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        guard tcsetattr(fd, TCSANOW, &quiet) == 0 else { return nil }
        defer { tcsetattr(fd, TCSANOW, &saved) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The passphrase of an encrypted zip: the first line of `file`, else
    /// asked on the terminal (twice when `confirm`, as for a new zip).
    static func passphrase(file: String?, confirm: Bool) throws -> Passphrase {
        if let file {
            do {
                return try Passphrase.read(file: file)
            } catch {
                throw CLIError(error.description, status: 2)
            }
        }
        guard let first = askSecret("Passphrase: ") else {
            throw CLIError("no terminal to ask the passphrase on: give --passphrase-file FILE (its first line)", status: 2)
        }
        guard let passphrase = Passphrase(first) else { throw CLIError("the passphrase is empty", status: 2) }
        if confirm {
            guard askSecret("Passphrase again: ") == first else { throw CLIError("the two passphrases differ: nothing written", status: 2) }
        }
        return passphrase
    }

    /// Human size: `512 B`, `3.4 MB`.
    static func size<N: BinaryInteger>(_ bytes: N) -> String {
        let value = Double(bytes)
        if value < 1024 { return "\(bytes) B" }
        let units = ["KB", "MB", "GB", "TB"]
        var scaled = value / 1024
        var unit = 0
        while scaled >= 1024 && unit < units.count - 1 { scaled /= 1024; unit += 1 }
        return String(format: scaled < 10 ? "%.1f %@" : "%.0f %@", scaled, units[unit])
    }
}

/// JSON as the commands print it: keys sorted, snake_case, slashes unescaped.
enum JSONOutput {
    static func data<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .custom { path in SnakeCaseKey(path.last!.stringValue) }
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func print<T: Encodable>(_ value: T) throws {
        var bytes = try data(value)
        bytes.append(0x0A)
        Terminal.writeOut(bytes)
    }
}

/// Columns padded to their widest cell (counting characters, so Japanese
/// names line up as well as a terminal allows).
enum TextTable {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map { displayWidth($0) }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], displayWidth(cell))
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - displayWidth(cell))
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }

    /// East Asian wide characters take two columns.
    static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { width, scalar in
            let v = scalar.value
            let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
                || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
                || (0xFFE0...0xFFE6).contains(v) || (0x20000...0x3FFFD).contains(v)
            return width + (wide ? 2 : 1)
        }
    }
}

/// A one-line progress bar on a terminal: percentage, files/s, MB/s, ETA.
/// Thread-safe; redrawn at most ten times a second.
final class ProgressBar: Sendable {
    private struct State {
        var total = 0
        var totalBytes = 0
        var done = 0
        var bytes = 0
        var started = ContinuousClock.now
        var lastDraw = ContinuousClock.now - .seconds(1)
        var shown = false
    }
    private let enabled: Bool
    private let state = Mutex(State())

    init(enabled: Bool) { self.enabled = enabled }

    func start(total: Int, totalBytes: Int) {
        state.withLock {
            $0.total = total
            $0.totalBytes = totalBytes
            $0.started = .now
        }
    }

    func advance(bytes: Int) {
        guard enabled else { return }
        state.withLock { p in
            p.done += 1
            p.bytes += bytes
            let now = ContinuousClock.now
            guard now - p.lastDraw >= .milliseconds(100) || p.done == p.total else { return }
            p.lastDraw = now
            let elapsed = max(0.001, (now - p.started) / .seconds(1))
            let fraction = p.totalBytes > 0 ? Double(p.bytes) / Double(p.totalBytes) : Double(p.done) / Double(max(1, p.total))
            let width = 30
            let filled = Int(min(1, fraction) * Double(width))
            let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
            let text = String(format: "\r[%@] %3.0f%%  %d/%d  %.0f files/s  %.1f MB/s  ETA %d:%02d ",
                              String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled),
                              fraction * 100, p.done, p.total, Double(p.done) / elapsed,
                              Double(p.bytes) / elapsed / 1_048_576, Int(eta) / 60, Int(eta) % 60)
            Terminal.writeOut(Data(text.utf8))
            p.shown = true
        }
    }

    /// Removes the bar so a message can be printed on a clean line.
    func clear() {
        state.withLock { p in
            if p.shown {
                Terminal.writeOut(Data("\r\u{1B}[K".utf8))
                p.shown = false
            }
        }
    }
}

/// A property name in snake_case with its acronyms kept whole:
/// `patientIDs` → `patient_ids`, `studyInstanceUIDs` → `study_instance_uids`,
/// `sopClassUID` → `sop_class_uid`, `xmlValue` → `xml_value`. (Foundation's
/// `.convertToSnakeCase` splits a plural acronym: `patient_i_ds`.)
struct SnakeCaseKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        let characters = Array(name)
        var out = ""
        for (i, c) in characters.enumerated() {
            guard c.isUppercase else { out.append(c); continue }
            let previous = i > 0 ? characters[i - 1] : nil
            let next = i + 1 < characters.count ? characters[i + 1] : nil
            // "IDs": the "s" ends the word, so it is the acronym's plural.
            let plural = next == "s" && (i + 2 == characters.count || !characters[i + 2].isLowercase)
            let startsWord = previous.map { $0.isLowercase || $0.isNumber } == true
                || (previous?.isUppercase == true && next?.isLowercase == true && !plural)
            if startsWord { out += "_" }
            out += c.lowercased()
        }
        stringValue = out
    }

    init(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { nil }
}
