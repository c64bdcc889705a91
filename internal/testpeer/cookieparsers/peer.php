<?php
// A PHP app's reading of cookies ($_COOKIE), served by `php -S`.
// Usage: php -S 127.0.0.1:PORT peer.php, with the victim's session token in
// the PEER_TOKEN environment variable.
$token = getenv('PEER_TOKEN');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$session = $_COOKIE['legacy_session'] ?? null;
if (!is_string($session)) {
    $session = null; // an array (legacy_session[x]=...) logs no one in
}
header('Cache-Control: no-store');
switch ($path) {
case '/health':
    echo 'ok';
    break;
case '/echo':
    header('Content-Type: application/json');
    echo json_encode(['session' => $session]);
    break;
case '/whoami':
    if ($session !== null && $session === $token) {
        header('Content-Type: application/json');
        echo '{"id":"victim"}';
    } else {
        http_response_code(401);
        echo '{"error":"not logged in"}';
    }
    break;
case '/secret':
    if ($session !== null && $session === $token) {
        echo 'secret of the victim';
    } else {
        http_response_code(401);
        echo 'please log in';
    }
    break;
default:
    http_response_code(404);
}
