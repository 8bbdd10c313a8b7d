#pragma once

#include <QDeadlineTimer>
#include <QProcess>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QThread>

namespace Sluice::Test {

/// A real redis-server on 127.0.0.1 for a test: a free port, no persistence, killed at the end.
/// kill() (SIGKILL) and start() again on the same port simulate a crash and a restart.
class RedisServer
{
public:
    RedisServer() = default;
    ~RedisServer() { kill(); }
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    static QString executable() { return QStandardPaths::findExecutable(QStringLiteral("redis-server")); }

    /// Starts it (on a free port the first time, on the same port after a kill) and waits until it
    /// accepts connections. False when it does not come up within `timeoutMs`.
    bool start(int timeoutMs = 10000)
    {
        if (executable().isEmpty() || !m_dir.isValid()) {
            return false;
        }
        if (m_port == 0) {
            QTcpServer probe;
            if (!probe.listen(QHostAddress::LocalHost, 0)) {
                return false;
            }
            m_port = probe.serverPort();
        }
        m_process.setProcessChannelMode(QProcess::MergedChannels);
        m_process.start(executable(),
                        {QStringLiteral("--port"), QString::number(m_port), QStringLiteral("--bind"),
                         QStringLiteral("127.0.0.1"), QStringLiteral("--save"), QString(),
                         QStringLiteral("--appendonly"), QStringLiteral("no"), QStringLiteral("--dir"),
                         m_dir.path(), QStringLiteral("--daemonize"), QStringLiteral("no")});
        if (!m_process.waitForStarted(timeoutMs)) {
            return false;
        }
        const QDeadlineTimer deadline(timeoutMs);
        while (!deadline.hasExpired() && m_process.state() == QProcess::Running) {
            QTcpSocket socket;
            socket.connectToHost(QHostAddress::LocalHost, m_port);
            if (socket.waitForConnected(200)) {
                socket.write("PING\r\n");
                if (socket.waitForReadyRead(500) && socket.readAll().startsWith("+PONG")) {
                    return true;
                }
            }
            QThread::msleep(20); // start-up of an external process: no signal to wait on
        }
        return false;
    }

    /// SIGKILL, as a crash: no shutdown, open connections reset.
    void kill()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

    quint16 port() const { return m_port; }
    qint64 pid() const { return m_process.processId(); }
    QString url(int db = 0) const { return QStringLiteral("redis://127.0.0.1:%1/%2").arg(m_port).arg(db); }
    QString log() { return QString::fromUtf8(m_process.readAll()); }

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    quint16 m_port = 0;
};

} // namespace Sluice::Test
