extension AiosmtpdServer {
    /// The server: aiosmtpd's SMTP protocol and Mailbox handler on an asyncio server bound first,
    /// so the chosen port is known (written to a file) before anyone connects.
    static let script = #"""
    import argparse, asyncio, os, ssl, sys, threading
    from aiosmtpd.smtp import SMTP, AuthResult
    from aiosmtpd.handlers import Mailbox

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    a = p.parse_args()

    # Exit when the test process goes away (stdin closes), even if it crashed before stop().
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

    def authenticator(server, session, envelope, mechanism, data):
        user, password = a.auth.split(":", 1)
        ok = mechanism == "PLAIN" and data.login == user.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    async def main():
        handler = Mailbox(a.maildir)
        context = None
        if a.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(a.tls_cert, a.tls_key)
        # With implicit TLS the whole connection is encrypted, which aiosmtpd's own check (it knows
        # only STARTTLS) cannot see: it must not refuse AUTH for want of STARTTLS.
        extra = {"authenticator": authenticator, "auth_require_tls": not a.implicit_tls} if a.auth else {}
        def factory():
            if a.implicit_tls:
                return SMTP(handler, hostname="mx.test", **extra)
            return SMTP(handler, hostname="mx.test", tls_context=context, require_starttls=a.require_tls, **extra)
        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", a.port,
                                                                ssl=context if a.implicit_tls else None)
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        os.rename(a.port_file + ".tmp", a.port_file)
        await server.serve_forever()

    asyncio.run(main())
    """#
}
