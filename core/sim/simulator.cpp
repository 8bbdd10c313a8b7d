#include "simulator.h"

#include "sim/connection.h"
#include "sim/duequeue.h"
#include "sim/requesthandler.h"
#include "util/clock.h"
#include "util/randomsource.h"

#include <QFile>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>

#include <optional>
#include <unordered_map>
#include <vector>

namespace Sluice {

namespace {

constexpr int kTlsHandshakeTimeoutMs = 5000;

QUrl simulatorUrl(const QTcpServer *server, bool tls, const QString &path)
{
    QUrl url;
    url.setScheme(tls ? QStringLiteral("https") : QStringLiteral("http"));
    const QHostAddress address = server->serverAddress();
    const bool loopbackOrAny = address.isLoopback() || address == QHostAddress::Any ||
                               address == QHostAddress::AnyIPv4 || address == QHostAddress::AnyIPv6 ||
                               address.isNull();
    url.setHost(loopbackOrAny ? QStringLiteral("127.0.0.1") : address.toString());
    url.setPort(server->isListening() ? server->serverPort() : 0);
    url.setPath(path);
    return url;
}

} // namespace

/// The server socket and the open connections; the request handling lives in the Sim parts.
struct Simulator::Private
{
    Private(Simulator *q, RandomSource *random, const Clock *clock);

    void makeServer();
    void handleNewConnections();
    void handleDue(const Sim::DueQueue::Entry &entry);
    void dropAll();

    Simulator *const q;
    const Clock *const clock;
    std::unique_ptr<DefaultRandom> ownRandom;
    RandomSource *const random;
    QTcpServer *server = nullptr; ///< a QSslServer when `tls` is set
    std::optional<QSslConfiguration> tls;
    Sim::DueQueue due;
    Sim::RequestHandler handler;
    std::unordered_map<quint64, Sim::Connection *> connections;
    quint64 nextConnectionId = 1;
};

Simulator::Private::Private(Simulator *q, RandomSource *random, const Clock *clock)
    : q(q)
    , clock(clock ? clock : SteadyClock::instance())
    , ownRandom(random ? nullptr : std::make_unique<DefaultRandom>())
    , random(random ? random : ownRandom.get())
    , due(this->clock, q, [this](const Sim::DueQueue::Entry &entry) { handleDue(entry); })
    , handler({&q->m_config, &q->m_stats, &q->m_recording, &q->m_received, this->random, this->clock})
{
    makeServer();
}

void Simulator::Private::makeServer()
{
    delete server;
    if (tls) {
        auto *sslServer = new QSslServer(q);
        sslServer->setSslConfiguration(*tls);
        sslServer->setHandshakeTimeout(kTlsHandshakeTimeoutMs);
        // A QSslServer queues a connection once its handshake is done, not when it is accepted.
        QObject::connect(sslServer, &QTcpServer::pendingConnectionAvailable, q,
                         [this] { handleNewConnections(); });
        QObject::connect(sslServer, &QSslServer::errorOccurred, q,
                         [this](QSslSocket *socket, QAbstractSocket::SocketError) {
                             if (!socket->isEncrypted())
                                 ++q->m_stats.tlsFailures;
                         });
        server = sslServer;
    } else {
        server = new QTcpServer(q);
        QObject::connect(server, &QTcpServer::newConnection, q, [this] { handleNewConnections(); });
    }
    // Clients open hundreds of connections at once: the defaults (backlog 50, 30 pending) would make
    // the kernel drop SYNs, which costs the client a one-second retransmit.
    server->setListenBacklogSize(1024);
    server->setMaxPendingConnections(1024);
}

void Simulator::Private::handleNewConnections()
{
    const Sim::Connection::Env env{&handler, &due, &q->m_stats, [this](quint64 id) {
                                       connections.erase(id);
                                   }};
    while (QTcpSocket *socket = server->nextPendingConnection()) {
        auto *connection = new Sim::Connection(nextConnectionId++, socket, env);
        connections.emplace(connection->id(), connection);
        ++q->m_stats.connections;
        connection->start();
    }
}

void Simulator::Private::handleDue(const Sim::DueQueue::Entry &entry)
{
    const auto it = connections.find(entry.connection);
    if (it != connections.end()) // else the client went away meanwhile
        it->second->handleDue(entry.kind, entry.seq);
}

void Simulator::Private::dropAll()
{
    // Copy: a dropped connection erases itself from the map.
    std::vector<Sim::Connection *> open;
    open.reserve(connections.size());
    for (const auto &[id, connection] : connections)
        open.push_back(connection);
    for (Sim::Connection *connection : open)
        connection->abort();
    connections.clear();
    due.clear();
}

Simulator::Simulator(SimulatorConfig config, QObject *parent)
    : Simulator(std::move(config), nullptr, nullptr, parent)
{
}

Simulator::Simulator(SimulatorConfig config, RandomSource *random, QObject *parent)
    : Simulator(std::move(config), random, nullptr, parent)
{
}

Simulator::Simulator(SimulatorConfig config, RandomSource *random, const Clock *clock, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<Private>(this, random, clock))
{
    setConfig(config);
}

Simulator::~Simulator()
{
    close();
}

Result<void> Simulator::setTls(const QString &certificatePath, const QString &keyPath)
{
    if (d->server->isListening()) {
        return Error{Error::Code::Network, QStringLiteral("Simulator::setTls: close the simulator first")};
    }
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(certificatePath, QSsl::Pem);
    if (chain.isEmpty()) {
        return Error{Error::Code::Io,
                     QStringLiteral("%1: no PEM certificate could be read").arg(certificatePath)};
    }
    QFile keyFile(keyPath);
    if (!keyFile.open(QIODevice::ReadOnly)) {
        return Error{Error::Code::Io, QStringLiteral("%1: %2").arg(keyPath, keyFile.errorString())};
    }
    const QByteArray pem = keyFile.readAll();
    QSslKey key(pem, QSsl::Ec, QSsl::Pem);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Rsa, QSsl::Pem);
    if (key.isNull()) {
        return Error{
            Error::Code::Io,
            QStringLiteral("%1: no unencrypted PEM EC or RSA private key could be read").arg(keyPath)};
    }
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setLocalCertificateChain(chain);
    config.setPrivateKey(key);
    config.setPeerVerifyMode(QSslSocket::VerifyNone); // clients are not asked for certificates
    d->tls = config;
    d->makeServer();
    return {};
}

bool Simulator::isTls() const
{
    return d->tls.has_value();
}

Result<quint16> Simulator::listen(quint16 port, const QHostAddress &address)
{
    if (d->server->isListening())
        d->server->close();
    if (!d->server->listen(address, port)) {
        return Error{Error::Code::Network,
                     QStringLiteral("Simulator cannot listen on %1:%2: %3")
                         .arg(address.toString(), QString::number(port), d->server->errorString())};
    }
    return d->server->serverPort();
}

void Simulator::close()
{
    d->server->close();
    d->dropAll();
}

quint16 Simulator::port() const
{
    return d->server->isListening() ? d->server->serverPort() : 0;
}

QUrl Simulator::chatUrl() const
{
    return simulatorUrl(d->server, isTls(), QStringLiteral("/v1/chat/completions"));
}

QUrl Simulator::messagesUrl() const
{
    return simulatorUrl(d->server, isTls(), QStringLiteral("/v1/messages"));
}

void Simulator::setConfig(const SimulatorConfig &config)
{
    m_config = config;
    d->handler.configure(); // the limit settles at its old rate first
}

} // namespace Sluice
