#pragma once

#include "config/projectconfig.h"
#include "util/result.h"

#include <QNetworkProxy>
#include <QProcessEnvironment>
#include <QSslConfiguration>
#include <QUrl>

namespace Sluice {

/// The origin of a URL (scheme, host, port): no user info, path or query, which may hold secrets.
QString originOf(const QUrl &url);

/// How a connection to an endpoint is made: its proxy (from the environment) and its TLS settings.
class ConnectionSettings
{
public:
    /// The proxy for a request to `url`, read from `environment` the way curl reads it: `https_proxy`
    /// / `HTTPS_PROXY` for https, `http_proxy` (lower case only) for http, else `all_proxy` /
    /// `ALL_PROXY`; `no_proxy` / `NO_PROXY` lists hosts and domains (`example.com` and `.example.com`
    /// match the domain and its subdomains, `*` matches everything, a `:port` suffix is ignored).
    /// Proxy URLs: `http://[user:password@]host[:port]` (port 80 when absent; a missing scheme means
    /// http) or `socks5://` / `socks5h://` (port 1080). Loopback hosts (`localhost`, `*.localhost`,
    /// 127.0.0.0/8, ::1) never go through a proxy. NoProxy when nothing applies. An Error (naming the
    /// variable, never its password) when the setting cannot be used, e.g. an https:// proxy, which Qt
    /// 6.4 cannot speak: the endpoint's every attempt then fails with it, rather than go direct.
    static Result<QNetworkProxy> proxyFor(const QUrl &url, const QProcessEnvironment &environment);
    /// The TLS settings for an endpoint: the system's CA certificates, or only those in `caFile`
    /// when set; no verification at all with `insecure`. An Error when `caFile` holds no certificate.
    static Result<QSslConfiguration> tlsConfiguration(const EndpointConfig &endpoint);
};

} // namespace Sluice
