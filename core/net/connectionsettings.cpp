#include "connectionsettings.h"

#include <QHostAddress>
#include <QSslCertificate>
#include <QSslSocket>

#include <array>

namespace Sluice {

namespace {
bool isLoopbackHost(const QString &host)
{
    const QString h = host.toLower();
    if (h == QLatin1String("localhost") || h.endsWith(QLatin1String(".localhost"))) {
        return true;
    }
    const QHostAddress address(h);
    return !address.isNull() && address.isLoopback();
}

/// Whether `host` is excluded from proxying by a no_proxy list.
bool matchesNoProxy(const QString &host, const QString &noProxy)
{
    const QString h = host.toLower();
    const QStringList entries = noProxy.split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (QString entry : entries) {
        entry = entry.trimmed().toLower();
        if (entry == QLatin1String("*")) {
            return true;
        }
        // A port suffix ("example.com:8080", "[::1]:80") is ignored; bare IPv6 addresses are kept.
        if (entry.startsWith(QLatin1Char('['))) {
            entry = entry.mid(1, entry.indexOf(QLatin1Char(']')) - 1);
        } else if (entry.count(QLatin1Char(':')) == 1) {
            entry.truncate(entry.indexOf(QLatin1Char(':')));
        }
        while (entry.startsWith(QLatin1Char('.')) || entry.startsWith(QLatin1Char('*'))) {
            entry.remove(0, 1);
        }
        if (entry.isEmpty()) {
            continue;
        }
        if (h == entry || h.endsWith(QLatin1Char('.') + entry)) {
            return true;
        }
    }
    return false;
}

QString environmentValue(const QProcessEnvironment &environment, const char *lower, const char *upper)
{
    QString value = environment.value(QString::fromLatin1(lower));
    if (value.isEmpty() && upper) {
        value = environment.value(QString::fromLatin1(upper));
    }
    return value.trimmed();
}

} // namespace

QString originOf(const QUrl &url)
{
    return url.adjusted(QUrl::RemovePath | QUrl::RemoveQuery | QUrl::RemoveFragment | QUrl::RemoveUserInfo)
        .toString();
}

Result<QNetworkProxy> ConnectionSettings::proxyFor(const QUrl &url, const QProcessEnvironment &environment)
{
    const QString host = url.host();
    if (host.isEmpty() || isLoopbackHost(host) ||
        matchesNoProxy(host, environmentValue(environment, "no_proxy", "NO_PROXY"))) {
        return QNetworkProxy(QNetworkProxy::NoProxy);
    }
    // http_proxy is read in lower case only: HTTP_PROXY can be set by a request header in CGI
    // ("httpoxy"); curl does the same.
    const bool https = url.scheme() == QLatin1String("https");
    static constexpr std::array<const char *, 4> httpsNames = {"https_proxy", "HTTPS_PROXY", "all_proxy",
                                                               "ALL_PROXY"};
    static constexpr std::array<const char *, 4> httpNames = {"http_proxy", "all_proxy", "ALL_PROXY",
                                                              nullptr};
    QString name;
    QString setting;
    for (const char *candidate : https ? httpsNames : httpNames) {
        if (!candidate) {
            break;
        }
        setting = environment.value(QString::fromLatin1(candidate)).trimmed();
        if (!setting.isEmpty()) {
            name = QString::fromLatin1(candidate);
            break;
        }
    }
    if (setting.isEmpty()) {
        return QNetworkProxy(QNetworkProxy::NoProxy);
    }
    if (!setting.contains(QLatin1String("://"))) {
        setting.prepend(QLatin1String("http://"));
    }
    const QUrl proxyUrl(setting, QUrl::StrictMode);
    if (!proxyUrl.isValid() || proxyUrl.host().isEmpty()) {
        // Never the value itself: it may hold a password.
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("proxy: %1 is not a proxy URL (http://host:port or socks5://host:port)")
                         .arg(name)};
    }
    const QString scheme = proxyUrl.scheme().toLower();
    QNetworkProxy proxy;
    if (scheme == QLatin1String("http")) {
        proxy = QNetworkProxy(QNetworkProxy::HttpProxy, proxyUrl.host(), quint16(proxyUrl.port(80)));
    } else if (scheme == QLatin1String("socks5") || scheme == QLatin1String("socks5h")) {
        proxy = QNetworkProxy(QNetworkProxy::Socks5Proxy, proxyUrl.host(), quint16(proxyUrl.port(1080)));
    } else {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("proxy: %1=%2 cannot be used: only http:// and socks5:// proxies are "
                                    "supported (no_proxy can exempt a host)")
                         .arg(name, originOf(proxyUrl))};
    }
    proxy.setUser(proxyUrl.userName(QUrl::FullyDecoded));
    proxy.setPassword(proxyUrl.password(QUrl::FullyDecoded));
    return proxy;
}

Result<QSslConfiguration> ConnectionSettings::tlsConfiguration(const EndpointConfig &endpoint)
{
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    if (!endpoint.caFile.isEmpty()) {
        const QList<QSslCertificate> cas = QSslCertificate::fromPath(endpoint.caFile, QSsl::Pem);
        if (cas.isEmpty()) {
            return Error{Error::Code::Io, QStringLiteral("%1: no PEM certificate could be read (ca_file of "
                                                         "endpoint \"%2\")")
                                              .arg(endpoint.caFile, endpoint.name)};
        }
        tls.setCaCertificates(cas); // only these, like curl --cacert
    }
    if (endpoint.tlsInsecure) {
        tls.setPeerVerifyMode(QSslSocket::VerifyNone);
    }
    return tls;
}

} // namespace Sluice
