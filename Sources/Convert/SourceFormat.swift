import Foundation

/// What a file to convert is, decided by its first bytes (never by its
/// name alone: patients' media carry `.JPG` files that are BMPs and PDFs
/// without extension).
public enum SourceFormat: String, Sendable, Hashable, Codable {
    case jpeg, png, tiff, bmp, pdf

    /// The format of `prefix` (the first bytes of a file); nil when unknown.
    /// `name` only decides that a file claiming to be a PDF is a damaged one.
    public static func detect(_ prefix: Data, name: String? = nil) -> SourceFormat? {
        let b = [UInt8](prefix.prefix(1024))
        if b.count >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return .jpeg }
        if b.count >= 8, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if b.count >= 4, (b[0..<4] == [0x49, 0x49, 0x2A, 0x00] || b[0..<4] == [0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if b.count >= 14, b[0] == 0x42, b[1] == 0x4D { return .bmp }
        // PDF 1.7 (ISO 32000-1 §7.5.2) tolerates bytes before the header;
        // readers look in the first 1024 bytes.
        if let _ = PDFDocumentInfo.find(Array("%PDF-".utf8), in: b[...]) { return .pdf }
        if let name, name.lowercased().hasSuffix(".pdf") { return .pdf }
        return nil
    }

    public static func detect(path: String) throws(ConvertError) -> SourceFormat {
        let prefix = try InputFile.read(path, limit: 1024)
        if prefix.isEmpty { throw ConvertError(.damaged, "the file is empty", path: path) }
        guard let format = detect(prefix, name: path) else {
            throw ConvertError(.unsupported, "not a JPEG, PNG, TIFF, BMP or PDF file", path: path)
        }
        return format
    }
}
