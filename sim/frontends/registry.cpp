#include "sim/frontends/frontends.hpp"

namespace hashwatt::sim {

const Frontend& frontend_for(Family f) {
    switch (f) {
        case Family::antminer:
            return antminer_frontend();
        case Family::whatsminer:
            return whatsminer_frontend();
        case Family::luxos:
            return luxos_frontend();
        case Family::braiins:
            return braiins_frontend();
        case Family::avalon:
            return avalon_frontend();
        case Family::vnish:
            return vnish_frontend();
    }
    return antminer_frontend();
}

}  // namespace hashwatt::sim
