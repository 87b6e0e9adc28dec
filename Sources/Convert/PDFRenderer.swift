import Foundation

/// Renders PDF pages with poppler's `pdftoppm` (Debian poppler-utils).
///
/// A subprocess rather than libpoppler through a module map: poppler's C
/// API (poppler-glib) renders only through cairo and pulls GLib, GObject
/// and cairo headers into the build for a path taken only with
/// `--pdf-as images`; `pdftoppm` is the same renderer, well known, and a
/// crash in it (hostile PDFs) cannot take discport down. PNG output is read
/// back with libpng.
public enum PDFRenderer {
    /// The pages, grouped as ``ImageDecoder/tiff(path:)`` groups pages:
    /// consecutive pages of the same size become frames of one image.
    public static func render(path: String, dpi: Int, tool: String = "pdftoppm") throws(ConvertError) -> [DecodedImage] {
        let folder = NSTemporaryDirectory() + "discport-render-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw ConvertError(.io, "cannot create a temporary folder for rendering: \(error)", path: path)
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool, "-png", "-r", String(dpi), path, folder + "/page"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ConvertError(.io, "cannot run \(tool) (poppler-utils; make deps installs it): \(error)", path: path)
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            if process.terminationStatus == 127 {
                throw ConvertError(.io, "\(tool) is not installed (poppler-utils; make deps installs it)", path: path)
            }
            let first = message.split(separator: "\n").first.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw ConvertError(.damaged, "the PDF's pages cannot be rendered: \(first)", path: path)
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".png") }
            .sorted { pageNumber($0) < pageNumber($1) }
        guard !files.isEmpty else { throw ConvertError(.damaged, "the PDF has no pages to render", path: path) }
        var images: [DecodedImage] = []
        for name in files {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name) else {
                throw ConvertError(.io, "rendered page \(name) cannot be read", path: path)
            }
            var page = try ImageDecoder.png(data, path: path)
            if page.samplesPerPixel == 1 {
                page = page.asRGB()
            }
            if var last = images.last, last.columns == page.columns, last.rows == page.rows {
                last.frames += page.frames
                images[images.count - 1] = last
            } else {
                images.append(page)
            }
        }
        return images
    }

    private static func pageNumber(_ name: String) -> Int {
        Int(name.filter(\.isNumber)) ?? 0
    }
}

extension DecodedImage {
    /// Grayscale 8-bit repeated into RGB.
    func asRGB() -> DecodedImage {
        guard samplesPerPixel == 1, bitsAllocated == 8 else { return self }
        let frames = self.frames.map { frame -> Data in
            var out = Data(count: frame.count * 3)
            frame.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
                out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                    for p in 0..<src.count { dst[3 * p] = src[p]; dst[3 * p + 1] = src[p]; dst[3 * p + 2] = src[p] }
                }
            }
            return out
        }
        return DecodedImage(columns: columns, rows: rows, samplesPerPixel: 3, bitsAllocated: 8, frames: frames)
    }
}
