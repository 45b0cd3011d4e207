# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_skypanel_global_optspecs
    string join \n h/help V/version
end

function __fish_skypanel_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_skypanel_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_skypanel_using_subcommand
    set -l cmd (__fish_skypanel_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c skypanel -n "__fish_skypanel_needs_command" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_needs_command" -s V -l version -d 'Print version'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "login" -d 'Save the server URL and an API token for later commands'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "logout" -d 'Forget the saved token'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "whoami" -d 'Show who the saved token belongs to'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "daemon" -d 'Run the control plane (what the systemd unit runs)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "apps" -d 'List your apps'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "apps:create" -d 'Create an app (inside a git repository, also adds the `skypanel` remote)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "apps:info" -d 'Show an app'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "apps:destroy" -d 'Delete an app and its config for good'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "config" -d 'Show an app\'s config vars'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "config:get" -d 'Print one config var\'s value'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "config:set" -d 'Set config vars: KEY=VALUE …'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "config:unset" -d 'Remove config vars: KEY …'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "deploy" -d 'Deploy a ready image on this server as a new release'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "releases" -d 'List an app\'s releases'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "releases:rollback" -d 'Roll back to an earlier release: its image and its config'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "ps" -d 'Show an app\'s processes and tasks'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "apps:stats" -d 'Show an app\'s resource use per process (CPU, memory, restarts) and its requests over the last hour'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "ps:scale" -d 'Set how many replicas each process type runs: TYPE=COUNT …'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "ps:restart" -d 'Restart an app\'s processes without downtime (new tasks first)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "ps:stop" -d 'Stop every process of an app (the formation is kept)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "ps:start" -d 'Start an app\'s processes again with its formation'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "checks" -d 'Show an app\'s deploy checks'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "checks:set" -d 'Set deploy checks: path=/health attempts=5 timeout=5 wait=2'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "checks:disable" -d 'Use TCP connect only as the deploy check'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "checks:history" -d 'Show recent health probes of an app\'s web tasks: task, result, latency, action'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "builds" -d 'List an app\'s builds (pushes to its deploy branch)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "builds:output" -d 'Print the stored output of a build (also of failed ones)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "builds:cancel" -d 'Stop the app\'s running build; its push is rejected'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "builder:set" -d 'Choose how pushes are built: auto, dockerfile or herokuish'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "repo:purge-cache" -d 'Delete the app\'s buildpack build cache'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "git:set" -d 'Set a git property: deploy-branch BRANCH'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "git:remote" -d 'Add the app\'s git remote (and credential helper) to this repository'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "git-credential" -d 'git credential helper (git runs it; answers with the saved token)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "git-hook" -d 'git hook (the daemon\'s repositories run it during a push)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "domains" -d 'List an app\'s hostnames: its default one and custom domains'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "domains:add" -d 'Route a custom domain to an app'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "domains:remove" -d 'Stop routing a custom domain to an app'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "certs" -d 'List the TLS certificates of an app\'s hostnames'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "certs:add" -d 'Serve an app over HTTPS with your own certificate and key (PEM files)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "certs:auto" -d 'Get certificates by ACME (Let\'s Encrypt) for an app\'s hostnames'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "certs:remove" -d 'Remove the certificate of one of an app\'s hostnames'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "certs:redirect" -d 'Turn the HTTP to HTTPS redirect of an app on or off'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "maintenance" -d 'Show whether an app is in maintenance mode'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "maintenance:on" -d 'Answer every request to an app with a 503 maintenance page'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "maintenance:off" -d 'Serve an app\'s requests again'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "logs" -d 'Show an app\'s logs: its processes\' output and the platform\'s lines'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs" -d 'List your organizations'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:create" -d 'Create an organization; you become its owner'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:members" -d 'List an organization\'s members'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:members:add" -d 'Add a member, or change a member\'s role (owners only)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:members:remove" -d 'Remove a member (owners only)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:webhooks" -d 'List an organization\'s webhooks and their latest deliveries (owners only)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:webhooks:add" -d 'Add a webhook: events are POSTed as JSON signed with HMAC-SHA256 (owners only)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "orgs:webhooks:remove" -d 'Remove a webhook (owners only)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "billing" -d 'Show an organization\'s wallet: balance, hourly burn now, runway, status'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "billing:transactions" -d 'List an organization\'s credits, debits and usage charges'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "billing:usage" -d 'Show billed usage by app, hour or day (--csv for a spreadsheet)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "billing:statement" -d 'A month\'s statement: opening and closing balance, credits, debits, usage per app'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "tokens" -d 'List your API tokens'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "tokens:create" -d 'Create an API token (shown once)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "tokens:revoke" -d 'Revoke one of your API tokens'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "plans" -d 'List the plans apps can run on'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "admin" -d 'Platform administration (admins only, except `admin init`)'
complete -c skypanel -n "__fish_skypanel_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c skypanel -n "__fish_skypanel_using_subcommand login" -l server -d 'The daemon\'s URL, like http://127.0.0.1:7780 (default: the saved one)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand login" -l token -d 'An API token (asked for on a terminal when left out)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand login" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand logout" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand whoami" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand whoami" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l listen -d 'Address the API listens on' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l http-listen -d 'Address the router serves apps on over HTTP ("off": no router)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l https-listen -d 'Address the router serves apps on over HTTPS ("off": no HTTPS)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l router-threads -d 'Threads serving the router, each with its own event loop (0: one per CPU)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l data-dir -d 'Where the database and key live' -r -F
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l log-format -d 'Log format' -r -f -a "text\t''
json\t''"
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l log-level -d 'Log level: error, warn, info, debug, trace' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -l clock-file -d 'Tests only: billing reads the time from this file (unix seconds or 2026-11-24T10:00Z) and sweeps only at start and on `admin billing:run`' -r -F
complete -c skypanel -n "__fish_skypanel_using_subcommand daemon" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps" -s o -l org -d 'Only this organization\'s apps' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps" -l all -d 'Every app on the platform (admins)'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -s o -l org -d 'The organization that owns it (default: your only one)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -l plan -d 'The plan (default: the platform\'s default plan)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -l remote -d 'Name of the git remote to add inside a repository' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -l no-remote -d 'Do not add a git remote'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:create" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:info" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:info" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:info" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:destroy" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:destroy" -l confirm -d 'The app\'s name again, to confirm' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:destroy" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand config" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand config" -l shell -d 'Print KEY=\'value\' lines that a shell can eval'
complete -c skypanel -n "__fish_skypanel_using_subcommand config" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand config" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:get" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand config:get" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:set" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand config:set" -l no-restart -d 'Record the change without rolling out a new release'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:set" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:set" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:unset" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand config:unset" -l no-restart -d 'Record the change without rolling out a new release'
complete -c skypanel -n "__fish_skypanel_using_subcommand config:unset" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand deploy" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand deploy" -l image -d 'A ready image on this server, like shop:1.4' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand deploy" -l process -d 'The process type this image runs' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand deploy" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand deploy" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand releases" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand releases" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand releases" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand releases:rollback" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand releases:rollback" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand releases:rollback" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand ps" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:stats" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:stats" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand apps:stats" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:scale" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:scale" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:scale" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:restart" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:restart" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:stop" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:stop" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:stop" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:start" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:start" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand ps:start" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand checks" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:set" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:set" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:set" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:disable" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:disable" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:disable" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:history" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:history" -s n -l num -d 'How many probes, newest first' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:history" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand checks:history" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand builds" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand builds" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand builds" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand builds:output" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand builds:output" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand builds:output" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand builds:cancel" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand builds:cancel" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand builder:set" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand builder:set" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand repo:purge-cache" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand repo:purge-cache" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand git:set" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand git:set" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand git:remote" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand git:remote" -s r -l remote -d 'The remote\'s name' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand git:remote" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand git-credential" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand git-hook" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand domains" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand domains" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand domains" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand domains:add" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand domains:add" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand domains:remove" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand domains:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand certs" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:add" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:add" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:auto" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:auto" -l wait -d 'Wait until each certificate is issued or has failed'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:auto" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:remove" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:redirect" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand certs:redirect" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance:on" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance:on" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance:off" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand maintenance:off" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s a -l app -d 'The app (default: the app of this repository\'s `skypanel` git remote)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s n -l num -d 'How many of the newest lines to show first (1 to 10000)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s p -l process -d 'Only this process type (web), task (web.1), or platform part (deploy, router, runtime)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s s -l source -d 'Only the app\'s own output (app) or the platform\'s lines (skypanel)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -l since -d 'Only lines from this long ago (30m, 2h, 1d) or this time (RFC 3339)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -l release -d 'Only lines of this release (v7)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s t -l tail -d 'Keep streaming new lines (Ctrl-C to stop)'
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -l json -d 'Print one JSON object per line'
complete -c skypanel -n "__fish_skypanel_using_subcommand logs" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:create" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:create" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:add" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:add" -l role -d 'owner or member' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:add" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:add" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:remove" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:members:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:add" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:add" -l events -d 'Event groups: deploy, crash, health, billing (and node, for admins); default all but node' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:add" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:add" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:remove" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand orgs:webhooks:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:transactions" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:transactions" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:transactions" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -l from -d 'From this day or time (UTC; default: the start of this month)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -l to -d 'Up to this day (included) or time (UTC; default: now)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -l by -d 'Group by app, hour or day' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -l csv -d 'Print CSV'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:usage" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:statement" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:statement" -l month -d 'The month, as YYYY-MM (default: this month)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:statement" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:statement" -l csv -d 'Print CSV: one line per app and per credit or debit'
complete -c skypanel -n "__fish_skypanel_using_subcommand billing:statement" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens:create" -l name -d 'A name to tell the token apart (default: cli)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens:create" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens:create" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand tokens:revoke" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand plans" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand plans" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "init" -d 'Create the data dir, key, database, default plans and settings and the first admin (idempotent; local)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "users" -d 'List users'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "users:create" -d 'Create a user and print their first token (shown once)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "orgs" -d 'List every organization: members, apps, balance, status'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "billing:credit" -d 'Add money to an organization\'s wallet'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "billing:debit" -d 'Take money from an organization\'s wallet'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "billing:run" -d 'Bill the hours that ended now (the daemon also does it by itself every hour)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "plans:create" -d 'Add a plan'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "plans:update" -d 'Change a plan\'s figures'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "plans:remove" -d 'Remove a plan no app uses'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes" -d 'List the Swarm\'s nodes: status, availability, capacity, reservations'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes:info" -d 'Show one node'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes:drain" -d 'Move a node\'s tasks away and schedule nothing new on it'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes:activate" -d 'Let a drained or paused node run tasks again'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes:remove" -d 'Remove a node that has left the Swarm'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "nodes:join-command" -d 'Print the `docker swarm join` command for a new host'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "events" -d 'Alerts and lifecycle events (node down/up, deploys, restarts)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "reconcile" -d 'Compare Swarm with the database now: recreate missing services, remove orphans'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "settings" -d 'List settings (secret values masked)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "settings:get" -d 'Show one setting'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "settings:set" -d 'Set a setting (the value is checked against its type)'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and not __fish_seen_subcommand_from init users users:create orgs billing:credit billing:debit billing:run plans:create plans:update plans:remove nodes nodes:info nodes:drain nodes:activate nodes:remove nodes:join-command events reconcile settings settings:get settings:set settings:unset" -f -a "settings:unset" -d 'Restore a setting\'s default'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l data-dir -d 'Where the database and key live' -r -F
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l email -d 'Email of the first admin' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l org -d 'Organization created for the first admin' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l login -d 'Also save a login for this server URL with the new admin token (first run only)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l advertise-addr -d 'Address the Swarm manager advertises when Swarm is initialised here' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l skip-docker -d 'Set up the database only; leave Docker and Swarm for a later `admin init`'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from users" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from users" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from users:create" -l admin -d 'Make the user a platform admin'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from users:create" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from users:create" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from orgs" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from orgs" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:credit" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:credit" -l note -d 'Why (shown in billing:transactions)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:credit" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:credit" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:debit" -s o -l org -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:debit" -l note -d 'Why (shown in billing:transactions)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:debit" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:debit" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:run" -l until -d 'Bill only hours that ended by this time (UTC, like 2026-11-24T10:00Z; default: now)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:run" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from billing:run" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l cpu -d 'CPUs, like 0.5' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l memory -d 'Memory, like 512M or 2G' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l max-replicas -d 'Most replicas an app on this plan may run' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l price-hourly -d 'Price per hour, like 0.0070' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l feature -d 'A feature (repeat for several)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:create" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l cpu -d 'CPUs, like 0.5' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l memory -d 'Memory, like 512M or 2G' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l max-replicas -d 'Most replicas an app on this plan may run' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l price-hourly -d 'Price per hour, like 0.0070' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l feature -d 'A feature (repeat for several)' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:update" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from plans:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:info" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:info" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:drain" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:drain" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:activate" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:activate" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:remove" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:remove" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:join-command" -l manager -d 'The command for a new manager instead of a worker'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:join-command" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from nodes:join-command" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from events" -s n -l limit -d 'How many of the newest events' -r
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from events" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from events" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from reconcile" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from reconcile" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:get" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:get" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:set" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:set" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:unset" -l json -d 'Print JSON instead of a table'
complete -c skypanel -n "__fish_skypanel_using_subcommand admin; and __fish_seen_subcommand_from settings:unset" -s h -l help -d 'Print help'
complete -c skypanel -n "__fish_skypanel_using_subcommand completions" -s h -l help -d 'Print help'
