package dev.patchbay.server.security;

import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Who may connect and how: plaintext, TLS ({@code --tls-cert}, {@code --tls-key}, PEM files; the key in PKCS#8),
 * or mutual TLS where clients must present a certificate signed by {@code --tls-client-ca}; and, on any of
 * them, bearer tokens ({@code --auth-tokens}, see {@link BearerTokens}).
 *
 * @param certificate the server's certificate chain (PEM), or null for plaintext
 * @param privateKey the server's private key (PEM, PKCS#8), with the certificate
 * @param clientCa certificates (PEM) that client certificates must chain to; null accepts any client
 * @param tokensFile a file of accepted bearer tokens, one a line; null requires none
 */
public record TransportSecurity(Path certificate, Path privateKey, Path clientCa, Path tokensFile) {
    public static final TransportSecurity PLAINTEXT = new TransportSecurity(null, null, null, null);

    public TransportSecurity {
        if ((certificate == null) != (privateKey == null)) {
            throw new IllegalArgumentException("--tls-cert and --tls-key: give both for TLS, or neither");
        }
        if (clientCa != null && certificate == null) {
            throw new IllegalArgumentException("--tls-client-ca: mutual TLS needs TLS (--tls-cert and --tls-key)");
        }
    }

    public boolean tls() {
        return certificate != null;
    }

    /** The transport credentials, with every file checked before the server starts. */
    public ServerCredentials credentials() throws IOException {
        if (!tls()) {
            return InsecureServerCredentials.create();
        }
        pem(certificate, "--tls-cert", "CERTIFICATE", "a PEM certificate chain");
        pem(
                privateKey,
                "--tls-key",
                "PRIVATE KEY",
                "a PKCS#8 PEM key (convert others with: openssl pkcs8 -topk8 -nocrypt)");
        if (clientCa != null) {
            pem(clientCa, "--tls-client-ca", "CERTIFICATE", "PEM certificates");
        }
        TlsServerCredentials.Builder tls = TlsServerCredentials.newBuilder();
        try {
            tls.keyManager(
                    readable(certificate, "--tls-cert").toFile(),
                    readable(privateKey, "--tls-key").toFile());
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "--tls-cert/--tls-key: cannot use " + certificate + " with " + privateKey
                            + " (PEM certificate chain and PKCS#8 PEM key expected): " + e.getMessage(),
                    e);
        }
        if (clientCa != null) {
            try {
                tls.trustManager(readable(clientCa, "--tls-client-ca").toFile());
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        "--tls-client-ca: cannot read certificates from " + clientCa + ": " + e.getMessage(), e);
            }
            tls.clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
        }
        return tls.build();
    }

    /** The accepted bearer tokens, or null when none are required. */
    public BearerTokens tokens() throws IOException {
        return tokensFile == null ? null : BearerTokens.read(readable(tokensFile, "--auth-tokens"));
    }

    /** Refuses a file that is not the PEM the flag needs, before the transport reads it with a vaguer message. */
    private static void pem(Path file, String flag, String type, String expected) throws IOException {
        String text = Files.readString(readable(file, flag), java.nio.charset.StandardCharsets.US_ASCII);
        if (!text.contains("-----BEGIN " + type + "-----")) {
            throw new IllegalArgumentException(flag + ": " + file + " is not " + expected + " (no BEGIN " + type + ")");
        }
    }

    private static Path readable(Path file, String flag) throws IOException {
        if (!Files.isReadable(file)) {
            throw new IOException(flag + ": cannot read " + file);
        }
        return file;
    }
}
