/* libjpeg-turbo's libjpeg API (libjpeg62-turbo-dev): discport's one JPEG
 * library (baseline, extended, progressive, arithmetic, grey/YCbCr/RGB/CMYK/
 * YCCK; 8-bit samples only in Debian 12's 2.1.5, which has no jpeg12 API:
 * 12-bit and lossless JPEG are Codecs' Swift JPEGDecoder). libjpeg reports
 * errors by longjmp, which Swift cannot catch: the whole decode and encode
 * run here, behind setjmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct discport_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void discport_jpeg_error_exit(j_common_ptr cinfo) {
    struct discport_jpeg_error *error = (struct discport_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    longjmp(error->jump, 1);
}

static void discport_jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

/* Strict decoding: a warning (corrupt or truncated data, which libjpeg
 * would fill with grey) stops the decode as an error. */
static void discport_jpeg_strict_emit(j_common_ptr cinfo, int level) {
    if (level < 0) cinfo->err->error_exit(cinfo);
}

/* Colour handling of a 3-component image. */
enum {
    DISCPORT_JPEG_AS_MARKED = 0,   /* libjpeg's rule (JFIF/Adobe markers, component IDs) */
    DISCPORT_JPEG_NO_TRANSFORM = 1, /* the components as stored (RGB coded as RGB) */
    DISCPORT_JPEG_YCBCR_TO_RGB = 2  /* YCbCr → RGB */
};

/* Decodes one 8-bit DCT JPEG image to interleaved samples (malloc'd; free()):
 * grey 1, RGB 3, CMYK 4 components as the file stores them (Adobe inverted
 * CMYK stays inverted). `strict`: warnings are errors.
 * Returns 0, or -1 with libjpeg's message (JMSG_LENGTH_MAX bytes). */
static inline int discport_jpeg_decode(const unsigned char *source, unsigned long size, int colour, int strict,
                                       unsigned char **out, unsigned long *outSize,
                                       int *width, int *height, int *components, char *message) {
    struct jpeg_decompress_struct cinfo;
    struct discport_jpeg_error error;
    unsigned char *volatile buffer = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = discport_jpeg_error_exit;
    error.manager.output_message = discport_jpeg_silent;
    if (strict) error.manager.emit_message = discport_jpeg_strict_emit;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        strcpy(message, error.message);
        jpeg_destroy_decompress(&cinfo);
        free(buffer);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, source, size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components == 3) {
        if (colour == DISCPORT_JPEG_NO_TRANSFORM) cinfo.jpeg_color_space = JCS_RGB;
        else if (colour == DISCPORT_JPEG_YCBCR_TO_RGB) cinfo.jpeg_color_space = JCS_YCbCr;
        cinfo.out_color_space = JCS_RGB;
    } else if (cinfo.num_components == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * cinfo.output_components;
    size_t total = stride * cinfo.output_height;
    buffer = (unsigned char *)malloc(total ? total : 1);
    if (!buffer) { strcpy(message, "out of memory"); jpeg_destroy_decompress(&cinfo); return -1; }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buffer + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *components = cinfo.output_components;
    jpeg_destroy_decompress(&cinfo);
    *out = buffer;
    *outSize = (unsigned long)total;
    return 0;
}

/* Encodes 8-bit grey (1) or RGB (3) interleaved samples as a JFIF JPEG,
 * 4:2:0 for colour, baseline or (`progressive`) progressive (malloc'd;
 * free()). Returns 0, or -1 with libjpeg's message. */
static inline int discport_jpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality, int progressive,
                                       unsigned char **out, unsigned long *outSize, char *message) {
    struct jpeg_compress_struct cinfo;
    struct discport_jpeg_error error;
    unsigned char *buffer = NULL;
    unsigned long bufferSize = 0;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = discport_jpeg_error_exit;
    error.manager.output_message = discport_jpeg_silent;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        strcpy(message, error.message);
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &bufferSize);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *outSize = bufferSize;
    return 0;
}
