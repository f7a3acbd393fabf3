/* version: build identity. Reads only compile-time constants and libcurl's
 * own version record. */
#include "version.h"

#include <curl/curl.h>

#include "commit.h"
#include "vendor_versions.h"

const char version_string[] = TRYON_VERSION;
const char version_commit[] = TRYON_COMMIT;

void version_print(FILE *out)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	fprintf(out, "tryon-worker %s (commit %s)\n", version_string, version_commit);
	fprintf(out, "libcurl %s, TLS backend %s, static\n", cv->version,
		cv->ssl_version ? cv->ssl_version : "none");
	fprintf(out, "BearSSL 0.6\n");
	fprintf(out, "Debian sources: bearssl %s, curl %s; jsmn %s; musl %s\n",
		VENDOR_BEARSSL_DEB, VENDOR_CURL_DEB, VENDOR_JSMN_DEB, VENDOR_MUSL_DEB);
	fprintf(out, "Trust: %d CA anchors from ca-certificates %s, compiled in\n",
		VENDOR_CA_ANCHORS, VENDOR_CA_CERTIFICATES_DEB);
}
