#!/usr/bin/env bash
# Starts the PostgreSQL and MariaDB servers the tests use, on 127.0.0.1 only, and
# creates the test role on each. Installs them from Debian's packages when missing
# (needs root). Prints the `export` lines for the test URLs; source its output:
#   eval "$(scripts/test-services.sh)"
set -euo pipefail

user=conda_store_test
password=conda_store_test

log() { echo "test-services: $*" >&2; }

install_missing() {
    local missing=()
    command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
    command -v dot >/dev/null || missing+=(graphviz)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            log "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
            exit 1
        fi
        log "installing ${missing[*]} from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq "${missing[@]}" >&2
    fi
}

start_postgres() {
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/main" ]; then
        log "creating PostgreSQL cluster"
        pg_createcluster "${version:-15}" main >&2
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
    fi
    sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "/etc/postgresql/$version/main/postgresql.conf"
    if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        pg_ctlcluster "$version" main start >&2
    fi
    for _ in $(seq 1 30); do
        runuser -u postgres -- psql -qAt -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 1
    done
    runuser -u postgres -- psql -qAt -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SQL
    echo "export CONDA_STORE_TEST_POSTGRES_URL=postgresql://$user:$password@127.0.0.1:5432/postgres"
}

start_mariadb() {
    if ! mariadb-admin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mysqld_safe --bind-address=127.0.0.1 >/dev/null 2>&1 &)
        for _ in $(seq 1 60); do
            mariadb-admin ping >/dev/null 2>&1 && break
            sleep 1
        done
    fi
    mariadb -e "CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password'; \
                GRANT ALL PRIVILEGES ON *.* TO '$user'@'%'; FLUSH PRIVILEGES;" >&2
    echo "export CONDA_STORE_TEST_MYSQL_URL=mysql://$user:$password@127.0.0.1:3306/"
}

install_missing
start_postgres
start_mariadb
