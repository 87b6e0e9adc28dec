#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Why a disc was not burnt. The image is never touched.
public struct BurnError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Hands a verified ISO image to xorriso, the standard way to write an
/// image on an optical disc: `xorriso -as cdrecord -v dev=DEVICE -eject
/// IMAGE` (cdrecord emulation: the image is written as it is, track-at-once,
/// the disc closed and ejected).
///
/// Before that it checks, with clear messages: xorriso is installed, the
/// device exists and is a block device, and `xorriso -outdev DEVICE -toc`
/// sees a writable medium in it (blank, appendable or overwritable).
public enum DiscBurner {
    /// Checks the drive, then burns; throws ``BurnError`` saying what is wrong.
    public static func burn(image: String, device: String) throws(BurnError) {
        let xorriso = try checkDrive(device)
        let (status, out) = run(xorriso, ["-as", "cdrecord", "-v", "dev=\(device)", "-eject", image])
        guard status == 0 else {
            throw BurnError("xorriso could not burn \(image) on \(device) (exit \(status)): \(tail(out))")
        }
    }

    /// xorriso's path when `device` is an optical drive holding a writable
    /// medium; throws ``BurnError`` otherwise.
    @discardableResult
    public static func checkDrive(_ device: String) throws(BurnError) -> String {
        guard let xorriso = executable("xorriso") else {
            throw BurnError("xorriso is not installed (apt-get install xorriso), so discport cannot burn a disc")
        }
        var info = stat()
        guard stat(device, &info) == 0 else {
            throw BurnError("\(device) does not exist: no optical drive there (drives are /dev/sr0, /dev/sr1, …; `xorriso -devices` lists them)")
        }
        guard info.st_mode & S_IFMT == S_IFBLK else {
            throw BurnError("\(device) is not a block device, so not an optical drive (drives are /dev/sr0, /dev/sr1, …; `xorriso -devices` lists them)")
        }
        let (status, out) = run(xorriso, ["-outdev", device, "-toc"])
        guard status == 0, out.contains("Media current:") else {
            throw BurnError("xorriso finds no usable drive or no disc at \(device): \(tail(out))")
        }
        let statusLine = out.split(separator: "\n").first { $0.hasPrefix("Media status") }.map(String.init) ?? ""
        guard statusLine.contains("is blank") || statusLine.contains("is appendable") || statusLine.contains("overwriteable") else {
            throw BurnError("the disc in \(device) cannot be written (\(statusLine.isEmpty ? "no media status" : statusLine)): insert a blank disc")
        }
        return xorriso
    }

    static func executable(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(folder)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// Runs a tool, returning its exit status and its output (stdout and stderr).
    static func run(_ tool: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (-1, "cannot start \(tool): \(error.localizedDescription)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func tail(_ text: String) -> String {
        text.split(separator: "\n").suffix(3).joined(separator: " / ")
    }
}
