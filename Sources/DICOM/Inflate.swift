import CZlib
import Foundation

/// Raw deflate (RFC 1951) as used by the Deflated Explicit VR Little Endian
/// transfer syntax (PS3.5 §A.5), through the system zlib.
enum Inflate {
    struct Failure: Error { let message: String }

    /// Inflates raw deflate data (no zlib or gzip header). Output is bounded
    /// by `limit` bytes so a hostile stream cannot exhaust memory.
    static func raw(_ input: Data, limit: Int = 4 << 30) throws(Failure) -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(message: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 256 * 1024
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
