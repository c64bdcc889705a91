// A Java servlet container's reading of cookies, in the way of Tomcat's
// RFC 6265 cookie processor: whitespace around names and before '=' is
// skipped, a quoted value is unquoted, a malformed cookie is skipped up to
// the next ';', and the app takes the first cookie of a name.
//
// Usage: java Peer.java PORT TOKEN
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

public class Peer {
    static String token;

    public static void main(String[] args) throws IOException {
        token = args[1];
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 64);
        server.createContext("/", Peer::handle);
        server.start();
    }

    static boolean isTokenChar(char c) {
        return c > 0x20 && c < 0x7f && "()<>@,;:\\\"/[]?={}".indexOf(c) < 0;
    }

    static boolean isSpace(char c) {
        return c == ' ' || c == '\t';
    }

    // parse returns name/value pairs in order.
    static List<String[]> parse(String header) {
        List<String[]> out = new ArrayList<>();
        int i = 0, n = header.length();
        while (i < n) {
            while (i < n && (isSpace(header.charAt(i)) || header.charAt(i) == ';')) i++;
            int start = i;
            while (i < n && isTokenChar(header.charAt(i))) i++;
            String name = header.substring(start, i);
            while (i < n && isSpace(header.charAt(i))) i++;
            String value = null;
            if (i < n && header.charAt(i) == '=') {
                i++;
                while (i < n && isSpace(header.charAt(i))) i++;
                int vs = i;
                if (i < n && header.charAt(i) == '"') {
                    int close = header.indexOf('"', i + 1);
                    if (close > 0) {
                        value = header.substring(i + 1, close);
                        i = close + 1;
                    }
                } else {
                    while (i < n && header.charAt(i) != ';' && !isSpace(header.charAt(i))
                            && header.charAt(i) != ',' && header.charAt(i) != '"' && header.charAt(i) != '\\') i++;
                    value = header.substring(vs, i);
                }
            }
            while (i < n && isSpace(header.charAt(i))) i++;
            if (i < n && header.charAt(i) != ';') {
                // Malformed: skip to the next cookie.
                int next = header.indexOf(';', i);
                i = next < 0 ? n : next;
                continue;
            }
            if (!name.isEmpty() && value != null) out.add(new String[] {name, value});
        }
        return out;
    }

    static String session(HttpExchange ex) {
        List<String> lines = ex.getRequestHeaders().get("Cookie");
        if (lines == null) return null;
        for (String line : lines)
            for (String[] c : parse(line))
                if (c[0].equals("legacy_session")) return c[1];
        return null;
    }

    static void answer(HttpExchange ex, int status, String body, String type) throws IOException {
        byte[] data = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, data.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(data);
        }
    }

    static String json(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String s = session(ex);
        switch (path) {
            case "/health" -> answer(ex, 200, "ok", "text/plain");
            case "/echo" -> answer(ex, 200, "{\"session\":" + json(s) + "}", "application/json");
            case "/whoami" -> {
                if (token.equals(s)) answer(ex, 200, "{\"id\":\"victim\"}", "application/json");
                else answer(ex, 401, "{\"error\":\"not logged in\"}", "application/json");
            }
            case "/secret" -> {
                if (token.equals(s)) answer(ex, 200, "secret of the victim", "text/plain");
                else answer(ex, 401, "please log in", "text/plain");
            }
            default -> answer(ex, 404, "not found", "text/plain");
        }
    }
}
