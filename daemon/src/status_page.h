// The node's read-only status page (served at / by the HTTP server, docs/metrics.md): peers
// with their resources and reputation, storage and replication health, recent jobs.
#pragma once

#include <string_view>

namespace synapse::daemon {

// A complete HTML document with its script inline; it reads /api/status, /api/peers and
// /api/jobs from the server that served it.
std::string_view status_page_html();

}  // namespace synapse::daemon
