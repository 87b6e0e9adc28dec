#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED  /* else <unicode/*.h> clashes with Foundation's _FoundationICU */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlwriter.h>
