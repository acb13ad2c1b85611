package dev.patchbay.server.security;

import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;

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
        keyOfCertificate(certificate, privateKey);
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

    /**
     * Refuses a key that is not the certificate's: the transport accepts the pair and every handshake then fails
     * with nothing in the server's log. Signs a probe with the key and verifies it with the certificate's public key.
     */
    private static void keyOfCertificate(Path certificate, Path privateKey) throws IOException {
        PublicKey publicKey;
        try (InputStream in = Files.newInputStream(certificate)) {
            publicKey = CertificateFactory.getInstance("X.509")
                    .generateCertificate(in)
                    .getPublicKey();
        } catch (CertificateException e) {
            throw new IllegalArgumentException("--tls-cert: cannot read a certificate from " + certificate, e);
        }
        String text = Files.readString(privateKey, StandardCharsets.US_ASCII);
        String body = text.substring(
                text.indexOf("-----BEGIN PRIVATE KEY-----") + "-----BEGIN PRIVATE KEY-----".length(),
                Math.max(0, text.indexOf("-----END PRIVATE KEY-----")));
        String algorithm = publicKey.getAlgorithm();
        String signing = switch (algorithm) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> algorithm;
            default -> null;
        };
        if (signing == null) {
            return; // a key type this check does not know: the transport judges it
        }
        boolean matches;
        try {
            PrivateKey key = KeyFactory.getInstance(algorithm)
                    .generatePrivate(
                            new PKCS8EncodedKeySpec(Base64.getMimeDecoder().decode(body)));
            byte[] probe = "patchbay: does this key belong to this certificate?".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(signing);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            signer.initVerify(publicKey);
            signer.update(probe);
            matches = signer.verify(signature);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            matches = false;
        }
        if (!matches) {
            throw new IllegalArgumentException("--tls-key: " + privateKey + " is not the private key of the "
                    + algorithm + " certificate in --tls-cert " + certificate
                    + " (every TLS handshake would fail); give the key the certificate was issued for");
        }
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
