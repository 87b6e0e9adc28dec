import Foundation

/// DICOM unique identifiers (PS3.5 §9): validation and generation.
public enum UID {
    /// discport's implementation class UID, under the 2.25 UUID root.
    public static let implementationClassUID = "2.25.187926542317349726374832046115620940817"
    /// (0002,0013) Implementation Version Name, at most 16 characters.
    public static let implementationVersionName = "DISCPORT_0_1"

    /// A UID without its NUL or space padding.
    public static func trimmed(_ uid: String) -> String {
        var s = Substring(uid)
        while let last = s.last, last == "\0" || last == " " { s.removeLast() }
        while let first = s.first, first == " " { s.removeFirst() }
        return String(s)
    }

    /// PS3.5 §9.1: 1–64 characters, digits and dots, components without
    /// leading zeros (except "0" itself), no empty components.
    public static func isValid(_ uid: String) -> Bool {
        // One pass over the bytes: digits in non-empty dot-separated
        // components, no leading zero in a component of several digits.
        var count = 0
        var componentLength = 0
        var leadingZero = false
        for byte in uid.utf8 {
            count += 1
            guard count <= 64 else { return false }
            if byte == UInt8(ascii: ".") {
                guard componentLength > 0 else { return false }
                componentLength = 0
                continue
            }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return false }
            if componentLength == 0 {
                leadingZero = byte == UInt8(ascii: "0")
            } else if leadingZero {
                return false
            }
            componentLength += 1
        }
        return componentLength > 0
    }

    /// A new UID: `2.25.` followed by a random UUID as a decimal integer
    /// (PS3.5 §B.2), or `root.` + a random decimal suffix when an
    /// organisation root is given (at most 64 characters in all).
    public static func generate(root: String? = nil) -> String {
        // A version 4 (random) UUID from the system generator (getrandom(2);
        // Foundation's UUID() opens /dev/urandom for every UID on Linux).
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        var bytes = withUnsafeBytes(of: high.bigEndian) { Array($0) } + withUnsafeBytes(of: low.bigEndian) { Array($0) }
        bytes[6] = bytes[6] & 0x0F | 0x40   // version 4
        bytes[8] = bytes[8] & 0x3F | 0x80   // RFC 4122 variant
        if let root {
            let digits = decimal(of: bytes)
            let room = max(1, 64 - root.utf8.count - 1)
            let suffix = String(digits.prefix(room)).drop(while: { $0 == "0" })
            return root + "." + (suffix.isEmpty ? "1" : String(suffix))
        }
        return "2.25." + decimal(of: bytes)
    }

    /// `2.25.` and 16 bytes (a UUID, or 128 bits of a hash) as a decimal
    /// integer (PS3.5 §B.2): a UID derived from those bytes.
    public static func derived(from bytes: [UInt8]) -> String {
        "2.25." + decimal(of: Array(bytes.prefix(16)))
    }

    /// The 128-bit big-endian integer in `bytes` (at most 16) as decimal
    /// digits.
    static func decimal(of bytes: [UInt8]) -> String {
        var number: UInt128 = 0
        for byte in bytes { number = number << 8 | UInt128(byte) }
        return String(number)
    }
}
