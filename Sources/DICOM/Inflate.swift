import CZlib
import Foundation

/// Deflate decompression through the system zlib: raw deflate (RFC 1951)
/// as used by the Deflated Explicit VR Little Endian transfer syntax
/// (PS3.5 §A.5), and zlib-wrapped (RFC 1950) as PDF's FlateDecode uses.
public enum Inflate {
    public struct Failure: Error, Sendable { public let message: String }

    /// Inflates raw deflate data (no zlib or gzip header). Output is bounded
    /// by `limit` bytes so a hostile stream cannot exhaust memory.
    public static func raw(_ input: Data, limit: Int = 4 << 30) throws(Failure) -> Data {
        try run(input, windowBits: -MAX_WBITS, limit: limit)
    }

    /// Inflates zlib data (RFC 1950 header and Adler-32), bounded by `limit`
    /// bytes of output (a "zip bomb" stops there with an error).
    public static func zlib(_ input: Data, limit: Int) throws(Failure) -> Data {
        try run(input, windowBits: MAX_WBITS, limit: limit)
    }

    private static func run(_ input: Data, windowBits: Int32, limit: Int) throws(Failure) -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(message: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = min(256 * 1024, max(4096, limit + 1))
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        let result: Failure? = input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Failure? in
            stream.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(raw.count)
            repeat {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                if status != Z_OK && status != Z_STREAM_END && !(status == Z_BUF_ERROR && stream.avail_in == 0) {
                    return Failure(message: stream.msg.map { String(cString: $0) } ?? String(cString: zError(status)))
                }
                output.append(buffer, count: produced)
                if output.count > limit { return Failure(message: "inflated size exceeds \(limit) bytes") }
                if produced == 0 && stream.avail_in == 0 { break }
            } while status != Z_STREAM_END
            return nil
        }
        if let result { throw result }
        return output
    }
}
